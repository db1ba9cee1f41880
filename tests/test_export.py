"""seq2seq-export and model folders: ONNX parity with torch, round trips, bad folders, the hub."""

import io
import json
import shutil
from pathlib import Path
from typing import ClassVar

import huggingface_hub
import numpy as np
import onnx
import pytest
import torch

from seq2seq.batching import pad_sequences
from seq2seq.checkpoint import prefixed_state_dict, save_checkpoint, translation_payload
from seq2seq.commands import translate
from seq2seq.export import cli, folder
from seq2seq.export.onnx_backend import OnnxSteps, inference_session
from seq2seq.export.onnx_graphs import export_onnx
from seq2seq.metrics import corpus_scores
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.steps import ModelSteps
from seq2seq.tokenizer import TokenizerPair
from seq2seq.translator import Translator

WORDS = ["the", "a", "dog", "cat", "bird", "sees", "likes", "runs", "big", "small", "red",
         "house", "tree", "river", "der", "die", "Hund", "Katze", "sieht", "läuft", "groß"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Both GRU forms with and without attention; a bidirectional 2-layer encoder, a low-rank
# output and tied embeddings among them.
CONFIGS = {
    "attention-paper-bi2": {"attention": "bahdanau", "gru_form": "paper", "num_layers": 2,
                            "bidirectional_encoder": True},
    "attention-reset_after": {"attention": "bahdanau", "gru_form": "reset_after",
                              "attention_size": 12, "output_rank": 6},
    "none-paper": {"attention": "none", "gru_form": "paper", "output_rank": 8,
                   "tie_embeddings": True},
    "none-reset_after-bi2": {"attention": "none", "gru_form": "reset_after", "num_layers": 2,
                             "bidirectional_encoder": True},
}


def sentences(count: int, offset: int = 0) -> list[str]:
    return [" ".join(WORDS[((i + offset) * 7 + j * 3) % len(WORDS)] for j in range(1 + i % 7))
            for i in range(count)]


@pytest.fixture(scope="module")
def tokenizers() -> TokenizerPair:
    text = sentences(300)
    return TokenizerPair.train(text, text, joint=False, vocab_size=60, hard_vocab_limit=False)


def make_model(tokenizers: TokenizerPair, seed: int = 0, hidden_size: int = 16,
               **options) -> Seq2Seq:
    """A random model whose outputs are peaked enough that search has no near-ties."""
    torch.manual_seed(seed)
    config = ModelConfig(src_vocab_size=tokenizers.source.vocab_size,
                         tgt_vocab_size=tokenizers.target.vocab_size, embedding_size=8,
                         hidden_size=hidden_size, maxout_size=8, init="pytorch", **options)
    model = Seq2Seq(config).eval()
    with torch.no_grad():
        model.output.weight.mul_(3.0)
    return model


@pytest.fixture(scope="module", params=list(CONFIGS))
def exported(request, tokenizers, tmp_path_factory):
    """(model, OnnxSteps over its exported float32 graphs) for each of CONFIGS."""
    model = make_model(tokenizers, **CONFIGS[request.param])
    directory = tmp_path_factory.mktemp(request.param)
    encoder, decoder = export_onnx(model, directory)
    return model, OnnxSteps(inference_session(encoder), inference_session(decoder))


def random_batch(lengths: list[int], vocab_size: int, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    rows = [torch.randint(4, vocab_size, (n,), generator=generator).tolist() for n in lengths]
    return pad_sequences(rows)


# ---- parity with torch ------------------------------------------------------------------------

# One sentence of one token, a batch of very different lengths, an empty source, and
# lengths past the traced example's 5.
BATCHES = [[1], [30, 1, 2, 17], [7, 7, 7], [4, 0, 2], [12, 3, 9, 1, 11, 6, 2, 8]]


@pytest.mark.parametrize("lengths", BATCHES, ids=lambda lengths: "-".join(map(str, lengths)))
def test_encoder_outputs_equal_torch_for_several_batches_and_lengths(exported, lengths):
    model, steps = exported
    src, src_lengths = random_batch(lengths, model.config.src_vocab_size)
    with torch.no_grad():
        encoded = model.encode(src, src_lengths)
        expected = {"hidden": model.initial_hidden(encoded)}
    state = steps.start(src, src_lengths)
    found = {"hidden": state.hidden, **state.source}
    expected.update((name, getattr(encoded, name)) for name in state.source)
    assert sorted(found) == sorted(expected)
    for name, tensor in expected.items():
        assert found[name].shape == tensor.shape, name
        if tensor.dtype == torch.bool:
            assert torch.equal(found[name], tensor)
        else:
            torch.testing.assert_close(found[name], tensor, rtol=0, atol=1e-5, msg=name)


def test_step_log_probs_and_attention_equal_torch(exported):
    model, steps = exported
    src, src_lengths = random_batch([9, 2, 14, 5], model.config.src_vocab_size, seed=2)
    tgt_in = torch.randint(4, model.config.tgt_vocab_size, (4, 8),
                           generator=torch.Generator().manual_seed(3))
    reference = ModelSteps(model)
    with torch.no_grad():
        expected = reference.forced_log_probs(src, src_lengths, tgt_in)
    found = steps.forced_log_probs(src, src_lengths, tgt_in)
    assert found.dtype == torch.float32 and found.shape == expected.shape
    assert (found - expected).abs().max() <= 1e-4
    state, torch_state = steps.start(src, src_lengths), reference.start(src, src_lengths)
    for t in range(3):
        step = steps.step(tgt_in[:, t], state)
        with torch.no_grad():
            torch_step = reference.step(tgt_in[:, t], torch_state)
        if model.attention is None:
            assert step.attention is None
        else:
            torch.testing.assert_close(step.attention, torch_step.attention, rtol=0, atol=1e-5)
        state, torch_state = step.state, torch_step.state


def test_greedy_and_beam_translations_equal_torch_line_for_line(exported, tokenizers):
    model, steps = exported
    lines = sentences(40, offset=5)
    torch_translator, onnx_translator = Translator(model, tokenizers), Translator(steps, tokenizers)
    for options in ({"beam_size": 1}, {"beam_size": 4, "nbest": 3}):
        expected = torch_translator.translate(lines, **options)
        found = onnx_translator.translate(lines, **options)
        if options["beam_size"] == 1:
            assert found == expected
            continue
        assert [[text for text, _ in hypotheses] for hypotheses in found] == \
            [[text for text, _ in hypotheses] for hypotheses in expected]
        scores = np.array([[score for _, score in h] for h in found])
        assert np.abs(scores - [[score for _, score in h] for h in expected]).max() < 1e-4


# ---- a model folder, end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizers):
    path = tmp_path_factory.mktemp("checkpoint") / "model.ckpt"
    model = make_model(tokenizers, **CONFIGS["attention-paper-bi2"])
    metrics = {"val_bleu": 12.34, "val_chrf": 40.5, "epoch": 3, "step": 120}
    save_checkpoint(path, prefixed_state_dict(model),
                    translation_payload(model, tokenizers, "en", "de", metrics))
    return path


@pytest.fixture(scope="module")
def test_set(tmp_path_factory, checkpoint):
    """Twelve sources, and as references the checkpoint's greedy output (a BLEU above 0)."""
    directory = tmp_path_factory.mktemp("test_set")
    sources = sentences(12, offset=40)
    references = Translator.from_checkpoint(checkpoint).translate(sources, beam_size=1)
    return write_lines(directory / "test.en", sources), write_lines(directory / "test.de", references)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, checkpoint, test_set):
    output = tmp_path_factory.mktemp("exported") / "en-de"
    status = cli.main(["--checkpoint", str(checkpoint), "--output", str(output),
                       "--quantize", "int8", "--data-description", "twelve made-up sentences",
                       "--test-source", str(test_set[0]), "--test-reference", str(test_set[1]),
                       "--beam-size", "3"])
    assert status == 0
    return output


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def translate_lines(capsys, lines: Path, *args: str) -> list[str]:
    """seq2seq-translate's stdout, beam 3, for the file ``lines``."""
    assert translate.main([*args, "--input", str(lines), "--device", "cpu",
                           "--beam-size", "3"]) == 0, capsys.readouterr().err
    return capsys.readouterr().out.split("\n")[:-1]


def test_export_writes_the_folder_and_every_backend_translates_as_the_checkpoint(
        model_folder, checkpoint, tmp_path, capsys):
    assert sorted(path.name for path in model_folder.iterdir()) == [
        "README.md", "config.json", "decoder_step.int8.onnx", "decoder_step.onnx",
        "encoder.int8.onnx", "encoder.onnx", "model.safetensors", "source.model", "target.model"]
    lines = sentences(25, offset=60)
    source = write_lines(tmp_path / "in.en", lines)
    expected = translate_lines(capsys, source, "--checkpoint", str(checkpoint))
    assert len(expected) == 25
    for backend in ("torch", "onnxruntime"):
        assert translate_lines(capsys, source, "--checkpoint", str(model_folder), "--backend",
                               backend) == expected
    reference = Translator.from_checkpoint(checkpoint)
    for backend in ("torch", "onnxruntime"):
        loaded = Translator.from_pretrained(model_folder, backend=backend)
        assert loaded.translate(lines, beam_size=1) == reference.translate(lines, beam_size=1)


def test_an_ensemble_of_folders_translates_as_the_ensemble_of_checkpoints(
        model_folder, checkpoint, tokenizers, tmp_path, capsys):
    second = make_model(tokenizers, seed=3, **CONFIGS["attention-paper-bi2"])
    second_checkpoint = tmp_path / "second.ckpt"
    save_checkpoint(second_checkpoint, prefixed_state_dict(second),
                    translation_payload(second, tokenizers, "en", "de"))
    assert cli.main(["--checkpoint", str(second_checkpoint), "--output", str(tmp_path / "b")]) == 0
    source = write_lines(tmp_path / "in.en", sentences(20, offset=70))
    weights = ["--ensemble-weights", "2", "1"]
    expected = translate_lines(capsys, source, "--checkpoint", str(checkpoint),
                               str(second_checkpoint), *weights)
    assert expected != translate_lines(capsys, source, "--checkpoint", str(checkpoint))
    assert translate_lines(capsys, source, "--checkpoint", str(model_folder), str(tmp_path / "b"),
                           *weights, "--backend", "onnxruntime") == expected


def test_config_and_card_carry_languages_metrics_and_test_bleu(model_folder, checkpoint, test_set):
    info = json.loads((model_folder / "config.json").read_text(encoding="utf-8"))
    assert (info["format"], info["format_version"]) == ("seq2seq-model-folder", 1)
    assert (info["src_lang"], info["tgt_lang"]) == ("en", "de")
    assert info["metrics"] == {"val_bleu": 12.34, "val_chrf": 40.5, "epoch": 3, "step": 120}
    assert info["model_config"] == Translator.from_checkpoint(checkpoint).model.config.to_dict()
    assert info["files"]["model.safetensors"] == folder.file_digest(model_folder / "model.safetensors")
    sources = test_set[0].read_text(encoding="utf-8").splitlines()
    references = test_set[1].read_text(encoding="utf-8").splitlines()
    hypotheses = Translator.from_checkpoint(checkpoint).translate(sources, beam_size=3)
    bleu = corpus_scores(hypotheses, [references], metrics=["bleu"])["bleu"]
    torch_score, int8_score = info["test_scores"]
    assert torch_score == {"test_set": "test.en", "sentences": 12, "backend": "torch",
                           "dtype": "float32", "beam_size": 3, "alpha": 1.0,
                           "bleu": round(bleu["score"], 2), "signature": bleu["signature"]}
    assert (int8_score["backend"], int8_score["dtype"]) == ("onnxruntime", "int8")
    card = (model_folder / "README.md").read_text(encoding="utf-8")
    assert "twelve made-up sentences" in card and "Validation BLEU 12.34" in card
    assert f"| test.en | 12 | torch float32 | 3 | {bleu['score']:.2f} |" in card
    assert bleu["signature"] in card and "language:\n- en\n- de" in card


def test_safetensors_hold_no_pickle_and_tied_weights_once(tokenizers, tmp_path):
    model = make_model(tokenizers, **CONFIGS["none-paper"])
    folder.write_weights(model, tmp_path / "tied.safetensors")
    data = (tmp_path / "tied.safetensors").read_bytes()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    assert "output.weight" not in header and "tgt_embedding.weight" in header
    assert json.loads(header["__metadata__"]["aliases"]) == {"output.weight": "tgt_embedding.weight"}
    weights = folder.read_weights(tmp_path / "tied.safetensors")
    assert weights.keys() == model.state_dict().keys()
    assert all(torch.equal(weights[name], value) for name, value in model.state_dict().items())


def test_int8_graphs_quantize_every_weight_product_but_vectors(model_folder):
    """Every product with a weight matrix is int8, recurrent ones included; attention's score
    vector v (one output column) stays float32."""
    for graph in ("encoder", "decoder_step"):
        fp32 = onnx.load(str(model_folder / f"{graph}.onnx"))
        int8 = onnx.load(str(model_folder / f"{graph}.int8.onnx"))
        shapes = {init.name: tuple(init.dims) for init in fp32.graph.initializer}
        products = [node for node in fp32.graph.node if node.op_type in ("MatMul", "Gemm")
                    and node.input[1] in shapes]
        vectors = [node for node in products if 1 in shapes[node.input[1]]]
        float_products = [node for node in int8.graph.node if node.op_type in ("MatMul", "Gemm")]
        integer_products = [node for node in int8.graph.node if node.op_type == "MatMulInteger"]
        assert len(products) > len(vectors)
        assert len(float_products) == len(vectors) == (1 if graph == "decoder_step" else 0)
        assert len(integer_products) == len(products) - len(vectors)


def test_int8_log_probs_are_close_to_float32_but_not_equal(model_folder, tokenizers):
    model_dir = folder.read_model_folder(model_folder)
    fp32, int8 = folder.load_onnx(model_dir, "float32"), folder.load_onnx(model_dir, "int8")
    src, src_lengths = random_batch([9, 2, 14, 5], tokenizers.source.vocab_size, seed=4)
    tgt_in = torch.randint(4, tokenizers.target.vocab_size, (4, 6),
                           generator=torch.Generator().manual_seed(5))
    difference = (fp32.forced_log_probs(src, src_lengths, tgt_in)
                  - int8.forced_log_probs(src, src_lengths, tgt_in)).abs().max()
    assert 0 < difference < 0.05


# ---- bad folders and options ---------------------------------------------------------------


@pytest.fixture
def damaged(model_folder, tmp_path):
    """A copy of the exported folder to damage."""
    return Path(shutil.copytree(model_folder, tmp_path / "copy"))


def translate_error(capsys, monkeypatch, *args: str) -> str:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"the dog\n")))
    assert translate.main([*args, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seq2seq-translate: error: ") and err.count("\n") == 1, err
    return err


def edit_config(path: Path, edit) -> None:
    info = json.loads((path / "config.json").read_text(encoding="utf-8"))
    edit(info)
    (path / "config.json").write_text(json.dumps(info), encoding="utf-8")


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_missing_target_model_is_named(damaged, capsys, monkeypatch, backend):
    (damaged / "target.model").unlink()
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(damaged), "--backend", backend)
    assert f"{damaged / 'target.model'} is missing from the model folder" in err


def test_weights_of_another_shape_are_named(damaged, tokenizers, capsys, monkeypatch):
    other = make_model(tokenizers, hidden_size=24, **CONFIGS["attention-paper-bi2"])
    folder.write_weights(other, damaged / "model.safetensors")
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(damaged))
    assert f"{damaged / 'model.safetensors'}: weight " in err
    assert ("weight attention.memory_proj.weight has shape (24, 48), but the model options need "
            "(16, 32) (options from config.json)") in err


def test_weights_of_another_model_of_the_same_shape_fail_the_digest(damaged, tokenizers, capsys,
                                                                     monkeypatch):
    other = make_model(tokenizers, seed=7, **CONFIGS["attention-paper-bi2"])
    folder.write_weights(other, damaged / "model.safetensors")
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(damaged))
    assert f"{damaged / 'model.safetensors'} is not the file config.json lists" in err


def test_graph_of_another_model_is_named(damaged, tokenizers, tmp_path, capsys, monkeypatch):
    export_onnx(make_model(tokenizers, **CONFIGS["none-paper"]), tmp_path)
    shutil.copy(tmp_path / "decoder_step.onnx", damaged / "decoder_step.onnx")
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(damaged),
                          "--backend", "onnxruntime")
    assert (f"{damaged / 'decoder_step.onnx'}: its inputs are ['prev_tokens', 'hidden', "
            "'gate_bias', 'readout_bias'], expected ['prev_tokens', 'hidden', 'memory', 'keys', "
            "'src_mask']") in err


def test_truncated_graph_is_named(damaged, capsys, monkeypatch):
    data = (damaged / "encoder.onnx").read_bytes()
    (damaged / "encoder.onnx").write_bytes(data[:len(data) // 2])
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(damaged),
                          "--backend", "onnxruntime")
    assert f"{damaged / 'encoder.onnx'} is not a loadable ONNX graph" in err


@pytest.mark.parametrize(("backend", "message"), [
    ("torch", ("model.safetensors: weight attention.memory_proj.weight has shape (16, 32), "
               "but the model options need (20, 40)")),
    ("onnxruntime", "encoder.onnx: output hidden has shape [2, 'batch', 16], expected [2, 'batch', 20]"),
])
def test_tampered_config_is_caught_by_the_files_it_no_longer_fits(damaged, capsys, monkeypatch,
                                                                  backend, message):
    edit_config(damaged, lambda info: info["model_config"].update(hidden_size=20))
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(damaged), "--backend", backend)
    assert str(damaged / message.split(":")[0]) + ":" + message.split(":", 1)[1] in err


@pytest.mark.parametrize(("edit", "message"), [
    (lambda info: info.update(format_version=2), "has format version 2; this seq2seq reads 1"),
    (lambda info: info["model_config"].update(layers=3), "bad model_config: unknown model options"),
    (lambda info: info.update(src_lang=None), "src_lang must be a string, got None"),
    (lambda info: info.pop("files"), "\"files\" must map each file to its bytes and sha256"),
    (lambda info: info.update(format="other"), "is not the config of a seq2seq model folder"),
])
def test_bad_config_is_named(damaged, capsys, monkeypatch, edit, message):
    edit_config(damaged, edit)
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(damaged))
    assert f"{damaged / 'config.json'}" in err and message in err


def test_config_that_is_not_json_and_a_folder_without_one(damaged, tmp_path, capsys, monkeypatch):
    (damaged / "config.json").write_text("{not json", encoding="utf-8")
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(damaged))
    assert f"{damaged / 'config.json'} is not readable JSON" in err
    (tmp_path / "empty").mkdir()
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(tmp_path / "empty"))
    assert f"{tmp_path / 'empty' / 'config.json'} is missing" in err


def test_backend_and_dtype_misuse_are_usage_errors(model_folder, checkpoint, tmp_path, capsys,
                                                   monkeypatch):
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(checkpoint),
                          "--backend", "onnxruntime")
    assert f"{checkpoint}: --backend onnxruntime runs model folders" in err
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(model_folder), "--dtype", "int8")
    assert "--dtype int8 needs --backend onnxruntime" in err
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(model_folder),
                          "--backend", "onnxruntime", "--dtype", "bfloat16")
    assert "--dtype bfloat16: --backend onnxruntime runs float32 or int8 graphs" in err
    plain = tmp_path / "plain"
    assert cli.main(["--checkpoint", str(checkpoint), "--output", str(plain)]) == 0
    capsys.readouterr()
    err = translate_error(capsys, monkeypatch, "--checkpoint", str(plain),
                          "--backend", "onnxruntime", "--dtype", "int8")
    assert f"{plain / 'encoder.int8.onnx'} is missing from the model folder (export with " \
           "--quantize int8" in err


def test_export_refuses_to_replace_what_is_not_a_model_folder(checkpoint, model_folder, tmp_path,
                                                              capsys):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine", encoding="utf-8")
    for flags in ([], ["--overwrite"]):
        assert cli.main(["--checkpoint", str(checkpoint), "--output", str(occupied), *flags]) == 2
        assert (occupied / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert "is not empty (--overwrite replaces" in capsys.readouterr().err
    again = Path(shutil.copytree(model_folder, tmp_path / "again"))
    (again / "results.txt").write_text("mine", encoding="utf-8")  # the user's, in the folder
    assert cli.main(["--checkpoint", str(checkpoint), "--output", str(again), "--overwrite"]) == 2
    assert "holds files that are not the model's (results.txt)" in capsys.readouterr().err
    assert (again / "results.txt").read_text(encoding="utf-8") == "mine"
    (again / "results.txt").unlink()
    assert cli.main(["--checkpoint", str(checkpoint), "--output", str(again), "--overwrite"]) == 0
    assert not (again / "encoder.int8.onnx").exists()  # replaced whole, without --quantize
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---- the hub ------------------------------------------------------------------------------------


def populate_hub_cache(cache: Path, repo_id: str, model_folder: Path) -> None:
    """The layout snapshot_download leaves behind: snapshots/<commit>/... and refs/main."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model_folder, storage / "snapshots" / commit)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(commit, encoding="utf-8")


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads both at import; it may have been imported before this test.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_hub_model_loads_offline_from_the_cache(offline_hub, model_folder, checkpoint, tmp_path,
                                                capsys, monkeypatch):
    populate_hub_cache(offline_hub, "org/en-de", model_folder)
    lines = sentences(10, offset=80)
    expected = Translator.from_checkpoint(checkpoint).translate(lines, beam_size=3)
    for backend in ("torch", "onnxruntime"):
        loaded = Translator.from_pretrained("org/en-de", backend=backend)
        assert loaded.translate(lines, beam_size=3) == expected
    source = write_lines(tmp_path / "in.en", lines)
    assert translate_lines(capsys, source, "--checkpoint", "hf://org/en-de", "--backend",
                           "onnxruntime") == expected
    err = translate_error(capsys, monkeypatch, "--checkpoint", "hf://org/missing")
    assert "hf://org/missing: cannot fetch the model folder: " in err


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi: records the calls, uploads nothing."""

    calls: ClassVar[list] = []

    def create_repo(self, repo_id, **options):
        self.calls.append(("create_repo", repo_id, options))

    def upload_folder(self, **options):
        self.calls.append(("upload_folder", options))
        return type("Commit", (), {"commit_url": "https://hub.example/org/en-de/commit/1"})()


def test_push_to_hub_creates_the_repo_and_uploads_the_folder(checkpoint, tmp_path, capsys,
                                                            monkeypatch):
    """Up to the HfApi calls only: not tried against the live hub."""
    RecordingHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHfApi)
    output = tmp_path / "pushed"
    assert cli.main(["--checkpoint", str(checkpoint), "--output", str(output),
                     "--push-to-hub", "org/en-de", "--private"]) == 0
    assert RecordingHfApi.calls == [
        ("create_repo", "org/en-de", {"repo_type": "model", "private": True, "exist_ok": True}),
        ("upload_folder", {"folder_path": str(output), "repo_id": "org/en-de",
                           "repo_type": "model",
                           "commit_message": "Upload model folder (seq2seq-export)"})]
    assert "uploaded to https://hub.example/org/en-de/commit/1" in capsys.readouterr().err
    assert "seq2seq-translate --checkpoint hf://org/en-de" in (output / "README.md").read_text()

    def refuse(self, **options):
        raise RuntimeError("401 Client Error. Invalid credentials")

    monkeypatch.setattr(RecordingHfApi, "upload_folder", refuse)
    assert cli.main(["--checkpoint", str(checkpoint), "--output", str(output), "--overwrite",
                     "--push-to-hub", "org/en-de"]) == 1
    err = capsys.readouterr().err
    assert f"--push-to-hub org/en-de: 401 Client Error (the folder {output} is written)" in err
