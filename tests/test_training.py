"""The training command end to end on small demo data: fit, checkpoints, resume, DDP, configs."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Callback

from seq2seq.checkpoint import load_translation_checkpoint, read_checkpoint
from seq2seq.cli import Seq2SeqCLI, main
from seq2seq.datamodule import TranslationDataModule
from seq2seq.module import TranslationModule

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

TINY_MODEL = ["--model.network.embedding_size", "32", "--model.network.hidden_size", "48",
              "--model.network.maxout_size", "32",
              "--model.network.init", "pytorch", "--model.optimization.lr", "0.005"]


def tiny_data(cache: Path, sizes="{train: 600, validation: 60, test: 60}") -> list[str]:
    return ["--data.source", "demo", "--data.demo_sizes", sizes, "--data.vocab_size", "200",
            "--data.max_tokens", "600", "--data.cache_dir", str(cache)]


def fit_args(root: Path, cache: Path, *extra: str) -> list[str]:
    return ["fit", "--trainer.default_root_dir", str(root), "--trainer.accelerator", "cpu",
            "--trainer.devices", "1", "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--seed_everything", "7",
            *TINY_MODEL, *tiny_data(cache), *extra]


def model_weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def metrics_rows(root: Path) -> list[dict]:
    rows = []
    for path in sorted((root / "logs").glob("version_*/metrics.csv")):
        with open(path) as handle:
            rows += list(csv.DictReader(handle))
    return rows



@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache):
    """One short fit shared by the tests that only read its outputs."""
    root = tmp_path_factory.mktemp("run")
    main(fit_args(root, cache, "--trainer.max_epochs", "2"))
    return root, cache


def test_fit_writes_best_last_config_and_logs(trained, capsys):
    root, _ = trained
    assert (root / "best.ckpt").is_file()
    assert (root / "checkpoints" / "last.ckpt").is_file()
    assert (root / "config.yaml").is_file()
    assert list((root / "tensorboard").rglob("events.out.tfevents.*"))
    rows = metrics_rows(root)
    bleus = [float(r["val_bleu"]) for r in rows if r.get("val_bleu")]
    assert len(bleus) == 2 and all(0.0 <= b <= 100.0 for b in bleus)
    assert any(r.get("train_loss") for r in rows)
    best_files = list((root / "checkpoints").glob("best-*.ckpt"))
    assert len(best_files) == 2  # one an epoch, up to save_top_k (5)
    assert model_weights(root / "best.ckpt").keys() == model_weights(best_files[0]).keys()
    assert (root / "averaged.ckpt").is_file()


def test_checkpoint_carries_everything_to_translate(trained):
    root, _ = trained
    loaded = load_translation_checkpoint(root / "best.ckpt")
    assert (loaded.src_lang, loaded.tgt_lang) == ("en", "de")
    assert loaded.model.config.hidden_size == 48
    ids = loaded.tokenizers.source.encode("the dog sees the cat .")
    assert ids and loaded.tokenizers.target.vocab_size == loaded.model.config.tgt_vocab_size


def test_validate_and_test_subcommands(trained, capsys):
    root, cache = trained
    training_config = (root / "config.yaml").read_text()
    written = {path: path.stat().st_mtime_ns for path in root.rglob("*.ckpt")}
    for command in ("validate", "test"):
        assert main([command, "--trainer.default_root_dir", str(root), "--trainer.accelerator",
                     "cpu", "--trainer.enable_progress_bar", "false", "--ckpt_path",
                     str(root / "best.ckpt"), *TINY_MODEL, *tiny_data(cache)]) == 0
        printed = capsys.readouterr().out
        assert ("val_bleu" if command == "validate" else "test_bleu") in printed
        assert f"ckpt_path: {root / 'best.ckpt'}" in (root / f"config.{command}.yaml").read_text()
    assert (root / "config.yaml").read_text() == training_config  # the fit's, kept
    assert {path: path.stat().st_mtime_ns for path in root.rglob("*.ckpt")} == written


def test_bf16_mixed_precision_trains_on_the_cpu_as_fp32_does(tmp_path, cache):
    attention = ["--model.network.attention", "bahdanau",
                 "--model.network.bidirectional_encoder", "true",
                 "--trainer.max_steps", "3", "--trainer.log_every_n_steps", "1",
                 "--trainer.limit_val_batches", "0", "--checkpoint.average_best", "1"]
    losses = {}
    for precision in ("32-true", "bf16-mixed"):
        root = tmp_path / precision
        main(fit_args(root, cache, *attention, "--trainer.precision", precision))
        losses[precision] = [float(row["train_loss"]) for row in metrics_rows(root)
                             if row.get("train_loss")]
        weights = model_weights(root / "checkpoints" / "last.ckpt")
        assert {tensor.dtype for tensor in weights.values() if tensor.is_floating_point()} == \
            {torch.float32}
    assert len(losses["bf16-mixed"]) == len(losses["32-true"]) == 3
    assert losses["bf16-mixed"] == pytest.approx(losses["32-true"], rel=1e-2)


def test_fit_prints_best_checkpoint_last(tmp_path, cache, capsys):
    main(fit_args(tmp_path / "run", cache, "--trainer.max_epochs", "1"))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[-3].startswith("best checkpoint: ") and str(tmp_path / "run" / "best.ckpt") in lines[-3]
    assert lines[-2].startswith("best validation val_bleu: ")
    assert lines[-1] == "averaged.ckpt not written: 1 checkpoint(s) kept, nothing to average"
    assert not (tmp_path / "run" / "averaged.ckpt").exists()


def test_fit_ends_with_the_average_of_the_best_checkpoints_and_its_bleu(tmp_path, cache, capsys):
    """averaged.ckpt is the mean of the 3 best of 4 epochs' checkpoints, and the BLEU stored
    and printed is sacreBLEU of its own greedy output on the validation split."""
    from seq2seq.metrics import corpus_scores
    from seq2seq.translator import Translator

    root = tmp_path / "run"
    main(fit_args(root, cache, "--trainer.max_epochs", "4", "--checkpoint.save_top_k", "3",
                  "--checkpoint.average_best", "3"))
    printed = capsys.readouterr().out.splitlines()[-1]
    kept = sorted((root / "checkpoints").glob("best-*.ckpt"))
    assert len(kept) == 3
    states = [model_weights(path) for path in kept]
    averaged = read_checkpoint(root / "averaged.ckpt")
    for name, tensor in averaged["state_dict"].items():
        torch.testing.assert_close(tensor, sum(s[name] for s in states) / 3, rtol=0, atol=1e-6)
    data = TranslationDataModule(source="demo", demo_sizes={"train": 600, "validation": 60,
                                                            "test": 60},
                                 vocab_size=200, max_tokens=600, cache_dir=str(cache))
    validation = data.preparation.prepared_split("validation")
    hypotheses = Translator.from_checkpoint(root / "averaged.ckpt").translate(validation["src"],
                                                                             beam_size=1)
    bleu = corpus_scores(hypotheses, [validation["tgt"]], metrics=("bleu",))["bleu"]["score"]
    metrics = averaged["seq2seq"]["metrics"]
    assert metrics["val_bleu"] == pytest.approx(bleu, abs=1e-9)
    assert metrics["averaged_checkpoints"] == 3
    assert printed == (f"averaged checkpoint: {root / 'averaged.ckpt'} (the best 3), "
                       f"validation val_bleu: {bleu:.2f}")


def test_average_best_needs_as_many_kept_checkpoints(tmp_path, cache, capsys):
    status = main(fit_args(tmp_path / "run", cache, "--trainer.max_epochs", "1",
                           "--checkpoint.save_top_k", "2"))
    assert status == 2
    assert "checkpoint.average_best 5 needs checkpoint.save_top_k >= 5" in capsys.readouterr().err


def test_resume_mid_epoch_is_exact(tmp_path, cache):
    """Stopping 7 steps into the second epoch (of 40 batches) and resuming to step 100, into
    a third, equals training 100 steps straight: the same batches, the same weights."""
    main(fit_args(tmp_path / "straight", cache, "--trainer.max_steps", "100",
                  "--trainer.max_epochs", "5"))
    main(fit_args(tmp_path / "resumed", cache, "--trainer.max_steps", "47",
                  "--trainer.max_epochs", "5"))
    last = tmp_path / "resumed" / "checkpoints" / "last.ckpt"
    assert read_checkpoint(last)["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 1, "batches_yielded": 7, "epoch_offset": 0}]
    main(fit_args(tmp_path / "resumed", cache, "--trainer.max_steps", "100",
                  "--trainer.max_epochs", "5", "--ckpt_path", str(last)))
    straight = model_weights(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    resumed = model_weights(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0, msg=name)


def test_last_checkpoint_follows_epochs_that_did_not_improve(tmp_path, cache):
    """lr 0: validation BLEU never improves after epoch 0, yet last.ckpt is the final state."""
    root = tmp_path / "run"
    main(fit_args(root, cache, "--trainer.max_epochs", "3", "--model.optimization.lr", "0.0",
                  "--checkpoint.save_top_k", "1", "--checkpoint.average_best", "1"))
    best = read_checkpoint(next((root / "checkpoints").glob("best-*.ckpt")))
    last = read_checkpoint(root / "checkpoints" / "last.ckpt")
    assert best["epoch"] == 0
    assert last["global_step"] == 3 * best["global_step"] and last["epoch"] == 2


def test_last_checkpoint_as_a_link_is_refused(tmp_path, cache, capsys):
    assert main(fit_args(tmp_path / "run", cache, "--checkpoint.save_last", "link")) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "seq2seq-train: error: bad option value: checkpoint.save_last: 'link' is not supported "
        "(last.ckpt would stay linked to the best checkpoint, not the last state); use true")
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(("option", "message"), [
    (["--model.optimization.optimizer", "sgd"],
     "optimizer must be one of ['adam', 'adamw', 'adadelta'], got 'sgd'"),
    (["--model.network.hidden_size", "0"], "model option hidden_size must be a positive integer, got 0"),
    (["--data.batch_size", "16"],
     "give exactly one of data.max_tokens and data.batch_size (set the other to null)"),
])
def test_option_values_the_classes_refuse_are_one_line_usage_errors(tmp_path, cache, capsys,
                                                                     option, message):
    assert main(fit_args(tmp_path / "run", cache, *option)) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"seq2seq-train: error: bad option value: {message}"
    assert "Traceback" not in err


def test_seeded_runs_are_reproducible(tmp_path, cache):
    for run in ("a", "b"):
        main(fit_args(tmp_path / run, cache, "--trainer.max_steps", "5"))
    a = model_weights(tmp_path / "a" / "checkpoints" / "last.ckpt")
    b = model_weights(tmp_path / "b" / "checkpoints" / "last.ckpt")
    assert all(torch.equal(a[name], b[name]) for name in a)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_config_parses_and_instantiates(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = make_local_corpus(tmp_path / "corpus", config)
    args = ["--config", str(config), "--data.source", str(corpus), "--data.vocab_size", "120",
            "--data.cache_dir", str(tmp_path / "cache"), "--trainer.accelerator", "cpu",
            "--trainer.devices", "1", "--trainer.strategy", "auto", "--trainer.num_nodes", "1"]
    if "config" in yaml_data(config):  # a hub config name does not apply to local text
        args += ["--data.config", "null"]
    if "demo" in config.stem:
        args[args.index("--data.source") + 1] = "demo"
        args += ["--data.demo_sizes", "{train: 300, validation: 20, test: 20}"]
    cli = Seq2SeqCLI(TranslationModule, TranslationDataModule, run=False, args=args,
                     trainer_defaults={"use_distributed_sampler": False})
    assert isinstance(cli.model, TranslationModule)
    assert cli.model.model.config.src_vocab_size == cli.datamodule.src_vocab_size


def yaml_data(config: Path) -> dict:
    """The `data:` section of a config file."""
    import yaml

    return yaml.safe_load(config.read_text()).get("data") or {}


def make_local_corpus(directory: Path, config: Path) -> Path:
    """Plain-text pairs in the config's languages and split stems, made from the demo corpus."""
    from seq2seq.demo import generate_corpus

    data = yaml_data(config)
    src, tgt = data.get("src_lang", "en"), data.get("tgt_lang", "de")
    stems = {"train": "train", "validation": "validation", "test": "test", **(data.get("split_stems") or {})}
    corpus = generate_corpus({"train": 300, "validation": 20, "test": 20}, seed=3)
    directory.mkdir(parents=True)
    for split, pairs in corpus.items():
        for lang, column in ((src, 0), (tgt, 1)):
            lines = [pair[column] for pair in pairs]
            (directory / f"{stems[split]}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one_process(tmp_path, cache):
    """gloo DDP over 2 processes equals 1 process accumulating the same 2 batches per step."""
    common = [*TINY_MODEL, *tiny_data(cache), "--data.max_tokens", "null", "--data.batch_size", "16",
              "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu", "--seed_everything", "7",
              "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
              "--trainer.num_sanity_val_steps", "0"]
    ddp_root, single_root = tmp_path / "ddp", tmp_path / "single"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "seq2seq.cli", "fit", *common, "--trainer.devices", "2",
                    "--trainer.strategy", "ddp", "--trainer.limit_train_batches", "6",
                    "--trainer.default_root_dir", str(ddp_root)],
                   check=True, env=env, cwd=tmp_path, timeout=600)
    main(["fit", *common, "--trainer.devices", "1", "--trainer.accumulate_grad_batches", "2",
          "--trainer.limit_train_batches", "12", "--trainer.default_root_dir", str(single_root)])
    ddp_files = sorted(p.name for p in (ddp_root / "checkpoints").iterdir())
    single_files = sorted(p.name for p in (single_root / "checkpoints").iterdir())
    assert ddp_files == single_files and len(ddp_files) == 2  # best and last, once each
    ddp = read_checkpoint(ddp_root / "checkpoints" / "last.ckpt")
    single = read_checkpoint(single_root / "checkpoints" / "last.ckpt")
    assert ddp["global_step"] == single["global_step"] == 6
    for name, tensor in ddp["state_dict"].items():
        torch.testing.assert_close(tensor, single["state_dict"][name], rtol=1e-4, atol=1e-5, msg=name)


class BatchOrder(Callback):
    """The examples of every training batch, by epoch."""

    def __init__(self):
        self.epochs: dict[int, list[list[int]]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.epochs.setdefault(trainer.current_epoch, []).append(batch.index.tolist())


def fitted_batch_order(root: Path, cache: Path, *extra: str) -> dict[int, list[list[int]]]:
    """Run a real Trainer.fit of 3 epochs and return its batch order."""
    args = [arg for arg in fit_args(root, cache, "--trainer.max_epochs", "3", *extra)
            if arg != "fit"]
    cli = Seq2SeqCLI(TranslationModule, TranslationDataModule, run=False, args=args,
                     trainer_defaults={"use_distributed_sampler": False})
    order = BatchOrder()
    cli.trainer.callbacks.append(order)
    cli.trainer.fit(cli.model, cli.datamodule)
    return order.epochs


@pytest.mark.parametrize("streaming", ["false", "true"])
def test_every_epoch_reshuffles_and_a_seeded_run_repeats(tmp_path, cache, streaming):
    first = fitted_batch_order(tmp_path / "a", cache, "--data.streaming", streaming)
    again = fitted_batch_order(tmp_path / "b", cache, "--data.streaming", streaming)
    assert first == again  # seeded: the same batches in the same order
    assert sorted(first) == [0, 1, 2]
    examples = [sorted(i for batch in first[epoch] for i in batch) for epoch in first]
    assert examples[0] == examples[1] == examples[2]  # every epoch sees every example
    assert first[0] != first[1] and first[1] != first[2] and first[0] != first[2]


def test_load_from_checkpoint_rebuilds_the_module(trained):
    root, _ = trained
    last = root / "checkpoints" / "last.ckpt"
    module = TranslationModule.load_from_checkpoint(last, weights_only=True)
    assert module.model.config.hidden_size == 48
    assert module.optimization.lr == 0.005
    saved = model_weights(last)
    for name, tensor in module.state_dict().items():
        assert torch.equal(tensor, saved[name]), name


class LastStep(Callback):
    """The step that last.ckpt holds, after each training batch."""

    def __init__(self, last: Path):
        self.last, self.steps = last, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps.append(read_checkpoint(self.last)["global_step"] if self.last.exists() else None)


def test_last_checkpoint_follows_every_n_train_steps(tmp_path, cache):
    root = tmp_path / "run"
    args = [arg for arg in fit_args(root, cache, "--trainer.max_steps", "12",
                                    "--checkpoint.every_n_train_steps", "5") if arg != "fit"]
    cli = Seq2SeqCLI(TranslationModule, TranslationDataModule, run=False, args=args,
                     trainer_defaults={"use_distributed_sampler": False})
    recorder = LastStep(root / "checkpoints" / "last.ckpt")
    cli.trainer.callbacks.insert(0, recorder)  # runs before the checkpoint callbacks
    cli.trainer.fit(cli.model, cli.datamodule)
    assert recorder.steps == [None] * 5 + [5] * 5 + [10] * 2
    assert read_checkpoint(root / "checkpoints" / "last.ckpt")["global_step"] == 12


def test_logged_validation_bleu_is_sacrebleu_of_the_checkpoint_s_greedy_output(trained):
    """val_bleu pairs each hypothesis with its own reference: the last validation's score
    equals sacreBLEU of last.ckpt's greedy translations of the validation split."""
    from seq2seq.metrics import corpus_scores
    from seq2seq.translator import Translator

    root, cache = trained
    logged = [float(row["val_bleu"]) for row in metrics_rows(root) if row.get("val_bleu")][-1]
    data = TranslationDataModule(source="demo", demo_sizes={"train": 600, "validation": 60,
                                                            "test": 60},
                                 vocab_size=200, max_tokens=600, cache_dir=str(cache))
    validation = data.preparation.prepared_split("validation")
    translator = Translator.from_checkpoint(root / "checkpoints" / "last.ckpt")
    hypotheses = translator.translate(validation["src"], beam_size=1)
    bleu = corpus_scores(hypotheses, [validation["tgt"]], metrics=("bleu",))["bleu"]["score"]
    assert logged == pytest.approx(bleu, abs=1e-6)
    shuffled = hypotheses[1:] + hypotheses[:1]  # what pairing with the wrong references gives
    assert corpus_scores(shuffled, [validation["tgt"]], metrics=("bleu",))["bleu"]["score"] \
        != pytest.approx(bleu, abs=1e-6)
