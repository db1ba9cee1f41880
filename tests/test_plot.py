"""seq2seq-plot and the training callback (#14): attention heatmaps, training curves, phrase
and embedding maps. Figures are checked as objects (data, labels, legends), files as PNGs."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sentencepiece as spm
import torch
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from test_training import fit_args  # the tiny demo-data training run

from seq2seq.checkpoint import prefixed_state_dict, save_checkpoint, translation_payload
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.plot.attention import CELL_INCHES, attention_figure
from seq2seq.plot.cli import main
from seq2seq.plot.curves import curves_figure, read_run
from seq2seq.plot.projection import (
    embedding_vectors,
    frequent_pieces,
    project,
    projection_figure,
    summary_vectors,
)
from seq2seq.plot.training import AttentionPlotCallback
from seq2seq.search import SearchOptions, greedy_search
from seq2seq.tokenizer import TokenizerPair
from seq2seq.translator import Alignment, Translator
from seq2seq.vocab import SPECIAL_IDS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WORDS = ["the", "a", "dog", "cat", "bird", "sees", "likes", "runs", "big", "small", "red",
         "house", "tree", "river", "green", "old", "young", "near", "under", "finds"]
PHRASES = ["the big dog", "a small cat", "the red house", "near the river", "the old tree"]


def sentences(count: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(1 + i % 5))
            for i in range(count)]


@pytest.fixture(scope="module")
def tokenizers() -> TokenizerPair:
    text = sentences(300)
    return TokenizerPair.train(text, text, joint=False, vocab_size=60, hard_vocab_limit=False)


def make_model(tokenizers: TokenizerPair, attention: str) -> Seq2Seq:
    torch.manual_seed(0)
    config = ModelConfig(src_vocab_size=tokenizers.source.vocab_size,
                         tgt_vocab_size=tokenizers.target.vocab_size, embedding_size=8,
                         hidden_size=16, maxout_size=8, init="pytorch", attention=attention)
    return Seq2Seq(config).eval()


def write_checkpoint(path: Path, model: Seq2Seq, tokenizers: TokenizerPair) -> Path:
    save_checkpoint(path, prefixed_state_dict(model),
                    translation_payload(model, tokenizers, "en", "de"))
    return path


@pytest.fixture(scope="module")
def attention_checkpoint(tmp_path_factory, tokenizers) -> Path:
    path = tmp_path_factory.mktemp("attention") / "model.ckpt"
    return write_checkpoint(path, make_model(tokenizers, "bahdanau"), tokenizers)


@pytest.fixture(scope="module")
def plain_checkpoint(tmp_path_factory, tokenizers) -> Path:
    path = tmp_path_factory.mktemp("plain") / "model.ckpt"
    return write_checkpoint(path, make_model(tokenizers, "none"), tokenizers)


def png_pixels(path: Path) -> np.ndarray:
    """The pixels of a valid PNG file (signature checked, read back by Pillow)."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGBA"))


def figure_pixels(figure) -> np.ndarray:
    stream = io.BytesIO()
    figure.savefig(stream, format="png", dpi=100)
    stream.seek(0)
    with Image.open(stream) as image:
        return np.asarray(image.convert("RGBA"))


def labels(ticks) -> list[str]:
    return [tick.get_text() for tick in ticks]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_tsv(path: Path) -> list[tuple[str, float, float]]:
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(len(row) == 3 for row in rows)
    return [(label, float(x), float(y)) for label, x, y in rows]


# ---- attention -----------------------------------------------------------------------------


def test_attention_figure_shows_the_weights_with_the_pieces_as_labels():
    weights = [[0.7, 0.2, 0.1], [0.05, 0.9, 0.05], [0.3, 0.3, 0.4], [0.0, 0.25, 0.75]]
    alignment = Alignment(["▁der", "▁Hund", "."], ["▁the", "▁dog", ".", "</s>"], weights)
    figure = attention_figure(alignment)
    axes = figure.axes[0]
    np.testing.assert_array_equal(axes.images[0].get_array(), np.array(weights))
    assert labels(axes.get_xticklabels()) == ["▁der", "▁Hund", "."]
    assert labels(axes.get_yticklabels()) == ["▁the", "▁dog", ".", "</s>"]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("source", "target")
    assert axes.images[0].get_clim() == (0.0, 1.0)  # one scale for every sentence
    assert [tick.get_rotation() for tick in axes.get_xticklabels()] == [90.0] * 3


def test_attention_figure_grows_with_the_sentence_so_60_pieces_stay_readable():
    def figure_of(count: int):
        pieces = [f"▁w{i}" for i in range(count)]
        return attention_figure(Alignment(pieces, pieces[:-1] + ["</s>"],
                                          np.eye(count).tolist()))

    small, large = figure_of(5).get_size_inches(), figure_of(60).get_size_inches()
    assert large[0] >= 60 * CELL_INCHES and large[1] >= 60 * CELL_INCHES
    assert large[0] > small[0] and large[1] > small[1]
    ticks = figure_of(60).axes[0].get_xticklabels()
    assert {tick.get_fontsize() for tick in ticks} == {7.0}


def test_attention_figure_refuses_weights_of_another_shape():
    with pytest.raises(ValueError, match="shape"):
        attention_figure(Alignment(["a", "b"], ["x", "</s>"], [[1.0, 0.0]]))


def test_attention_command_draws_each_lines_best_hypothesis(attention_checkpoint, tokenizers,
                                                            tmp_path, capsys):
    lines = ["the dog runs", "", "a big red house near the river"]
    source = write_lines(tmp_path / "input.en", lines)
    out = tmp_path / "plots"
    assert main(["attention", "--checkpoint", str(attention_checkpoint), "--input", str(source),
                 "--output", str(out), "--beam-size", "3", "--device", "cpu"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["0001.png", "0003.png"]
    assert "line 2 is empty" in capsys.readouterr().err

    model = make_model(tokenizers, "bahdanau")
    expected = list(Translator(model, tokenizers).translate_stream(lines, beam_size=3,
                                                                   alignments=True))
    for number in (1, 3):
        alignment = expected[number - 1].alignments[0]
        assert alignment.target_tokens[-1] == "</s>"
        np.testing.assert_array_equal(png_pixels(out / f"{number:04d}.png"),
                                      figure_pixels(attention_figure(alignment)))


def test_attention_command_refuses_a_model_without_attention(plain_checkpoint, tmp_path, capsys):
    source = write_lines(tmp_path / "input.en", ["the dog runs"])
    out = tmp_path / "plots"
    assert main(["attention", "--checkpoint", str(plain_checkpoint), "--input", str(source),
                 "--output", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(plain_checkpoint) in err and "attention" in err
    assert not out.exists() or not list(out.iterdir())


def test_attention_command_usage_and_input_errors(attention_checkpoint, tmp_path, capsys):
    source = write_lines(tmp_path / "input.en", ["the dog runs"])
    with pytest.raises(SystemExit) as exit_info:
        main(["attention", "--checkpoint", str(attention_checkpoint), "--input", str(source),
              "--output", str(tmp_path / "plots"), "--beam-size", "0"])
    assert exit_info.value.code == 2 and "--beam-size" in capsys.readouterr().err
    assert main(["attention", "--checkpoint", str(attention_checkpoint), "--input",
                 str(tmp_path / "missing.en"), "--output", str(tmp_path / "plots"),
                 "--device", "cpu"]) == 1
    assert "missing.en" in capsys.readouterr().err
    assert main(["attention", "--checkpoint", str(tmp_path / "none.ckpt"), "--input",
                 str(source), "--output", str(tmp_path / "plots")]) == 2
    assert "none.ckpt" in capsys.readouterr().err


# ---- curves --------------------------------------------------------------------------------

CSV_COLUMNS = ["epoch", "lr", "step", "tok/s", "train_loss", "train_ppl", "val_bleu",
               "val_chrf", "val_loss", "val_ppl"]


def write_metrics(path: Path, rows: list[dict], columns=CSV_COLUMNS) -> Path:
    """A metrics.csv as Lightning's CSVLogger writes it: empty where a metric was not logged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def two_runs(tmp_path) -> tuple[Path, Path]:
    first, second = tmp_path / "adam", tmp_path / "adadelta"
    write_metrics(first / "logs" / "version_0" / "metrics.csv", [
        {"epoch": 0, "lr": 0.001, "step": 0, "train_loss": 5.0},
        {"epoch": 0, "lr": 0.002, "step": 1, "train_loss": 4.0},
        {"epoch": 0, "step": 1, "val_bleu": 3.5},
        {"epoch": 0, "lr": 0.003, "step": 2, "train_loss": 3.9},
    ])
    # Resumed from step 1: step 2 again (the later value counts), then on.
    write_metrics(first / "logs" / "version_1" / "metrics.csv", [
        {"epoch": 1, "lr": 0.003, "step": 2, "train_loss": 3.0},
        {"epoch": 1, "lr": 0.003, "step": 3, "train_loss": 2.5},
        {"epoch": 1, "step": 3, "val_bleu": 9.25},
    ])
    # LearningRateMonitor's column name instead of the module's lr.
    write_metrics(second / "logs" / "version_0" / "metrics.csv", [
        {"step": 0, "lr-Adadelta": 1.0, "train_loss": 6.0},
        {"step": 4, "lr-Adadelta": 1.0, "train_loss": 4.5},
        {"step": 4, "val_bleu": 2.0},
    ], columns=["epoch", "step", "lr-Adadelta", "train_loss", "val_bleu"])
    return first, second


def test_curves_merge_a_resumed_runs_versions_by_step(two_runs):
    run = read_run(two_runs[0])
    assert run.name == "adam"
    assert run.series["train_loss"] == ([0, 1, 2, 3], [5.0, 4.0, 3.0, 2.5])
    assert run.series["val_bleu"] == ([1, 3], [3.5, 9.25])
    assert run.series["lr"] == ([0, 1, 2, 3], [0.001, 0.002, 0.003, 0.003])
    assert read_run(two_runs[1]).series["lr"] == ([0, 4], [1.0, 1.0])


def test_curves_figure_overlays_the_runs_in_three_panels(two_runs):
    runs = [read_run(run_dir) for run_dir in two_runs]
    figure = curves_figure(runs)
    loss, bleu, lr = figure.axes
    assert [text.get_text() for text in loss.get_legend().get_texts()] == ["adam", "adadelta"]
    assert [axes.get_ylabel() for axes in figure.axes] == ["train loss", "validation BLEU",
                                                           "learning rate"]
    assert lr.get_xlabel() == "step"
    for axes, column in ((loss, "train_loss"), (bleu, "val_bleu"), (lr, "lr")):
        assert [line.get_label() for line in axes.get_lines()] == ["adam", "adadelta"]
        for line, run in zip(axes.get_lines(), runs):
            assert (list(line.get_xdata()), list(line.get_ydata())) == \
                tuple(map(list, run.series[column]))


def test_curves_command_writes_a_png(two_runs, tmp_path):
    out = tmp_path / "curves.png"
    assert main(["curves", *map(str, two_runs), "--output", str(out)]) == 0
    assert png_pixels(out).shape[:2] == (900, 800)  # 8 x 9 inches at 100 dpi


def test_curves_errors_name_the_run_or_the_file(tmp_path, capsys):
    empty = tmp_path / "empty_run"
    empty.mkdir()
    assert main(["curves", str(empty), "--output", str(tmp_path / "c.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(empty) in err and "metrics.csv" in err

    foreign = write_metrics(tmp_path / "other" / "logs" / "version_0" / "metrics.csv",
                            [{"step": 1, "accuracy": 0.5}], columns=["step", "accuracy"])
    assert main(["curves", str(tmp_path / "other"), "--output", str(tmp_path / "c.png")]) == 1
    err = capsys.readouterr().err
    assert str(foreign) in err and "train_loss" in err

    stepless = write_metrics(tmp_path / "x" / "logs" / "version_0" / "metrics.csv",
                             [{"train_loss": 1.0}], columns=["train_loss"])
    assert main(["curves", str(tmp_path / "x"), "--output", str(tmp_path / "c.png")]) == 1
    assert str(stepless) in capsys.readouterr().err
    assert main(["curves", str(tmp_path / "nowhere"), "--output", str(tmp_path / "c.png")]) == 1
    assert not (tmp_path / "c.png").exists()


# ---- phrases and embeddings ------------------------------------------------------------------


def test_summary_vectors_are_c_of_each_phrase_whatever_the_batching(tokenizers):
    model = make_model(tokenizers, "bahdanau")
    batched = summary_vectors(model, tokenizers.source, PHRASES, max_tokens=4000)
    one_by_one = summary_vectors(model, tokenizers.source, PHRASES, max_tokens=1)
    for row, phrase in enumerate(PHRASES):
        ids = torch.tensor([tokenizers.source.encode(phrase)])
        with torch.no_grad():
            expected = model.encode(ids, torch.tensor([ids.shape[1]])).summary[0]
        torch.testing.assert_close(batched[row], expected)
        torch.testing.assert_close(one_by_one[row], expected)


def test_phrases_command_pca_coordinates_one_row_per_phrase_in_order(attention_checkpoint,
                                                                     tokenizers, tmp_path):
    phrases_file = write_lines(tmp_path / "phrases.txt", [PHRASES[0], "", *PHRASES[1:]])
    out, tsv = tmp_path / "map.png", tmp_path / "map.tsv"
    assert main(["phrases", "--checkpoint", str(attention_checkpoint), "--phrases",
                 str(phrases_file), "--output", str(out), "--tsv", str(tsv), "--method", "pca",
                 "--device", "cpu"]) == 0
    png_pixels(out)
    rows = read_tsv(tsv)
    assert [label for label, _, _ in rows] == PHRASES
    model = make_model(tokenizers, "bahdanau")
    vectors = torch.stack([summary_vectors(model, tokenizers.source, [phrase])[0]
                           for phrase in PHRASES])
    expected = PCA(n_components=2).fit_transform(vectors.double().numpy())
    np.testing.assert_allclose([(x, y) for _, x, y in rows], expected, atol=1e-5)


def test_tsne_clamps_perplexity_below_the_number_of_points_and_is_repeatable():
    vectors = np.random.default_rng(0).normal(size=(5, 16))
    found = project(vectors, "tsne")  # the default perplexity 30 would be refused for 5
    expected = TSNE(n_components=2, method="barnes_hut", init="pca", random_state=0,
                    perplexity=4.0).fit_transform(vectors)
    assert found.shape == (5, 2)
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(project(vectors, "tsne"), found)
    np.testing.assert_array_equal(project(vectors, "tsne", perplexity=2.0),
                                  TSNE(n_components=2, method="barnes_hut", init="pca",
                                       random_state=0, perplexity=2.0).fit_transform(vectors))


def test_phrases_command_tsne_tsv_matches_the_projection(attention_checkpoint, tokenizers,
                                                         tmp_path):
    phrases_file = write_lines(tmp_path / "phrases.txt", PHRASES)
    out, tsv = tmp_path / "map.png", tmp_path / "map.tsv"
    assert main(["phrases", "--checkpoint", str(attention_checkpoint), "--phrases",
                 str(phrases_file), "--output", str(out), "--tsv", str(tsv),
                 "--device", "cpu"]) == 0
    rows = read_tsv(tsv)
    assert [label for label, _, _ in rows] == PHRASES
    vectors = summary_vectors(make_model(tokenizers, "bahdanau"), tokenizers.source, PHRASES)
    np.testing.assert_allclose([(x, y) for _, x, y in rows], project(vectors, "tsne"),
                               rtol=1e-4, atol=1e-3)


def test_projection_figure_labels_each_point_at_its_coordinates():
    coordinates = np.array([[0.0, 1.0], [2.5, -1.0], [3.0, 3.0]])
    figure = projection_figure(["▁a", "b c", "d"], coordinates, title="map")
    axes = figure.axes[0]
    assert [text.get_text() for text in axes.texts] == ["▁a", "b c", "d"]
    np.testing.assert_array_equal([text.xy for text in axes.texts], coordinates)
    np.testing.assert_array_equal(axes.collections[0].get_offsets(), coordinates)
    assert axes.get_title() == "map"


def test_phrases_command_refuses_too_few_phrases(attention_checkpoint, tmp_path, capsys):
    phrases_file = write_lines(tmp_path / "phrases.txt", ["the dog", "", "  "])
    out = tmp_path / "map.png"
    assert main(["phrases", "--checkpoint", str(attention_checkpoint), "--phrases",
                 str(phrases_file), "--output", str(out), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(phrases_file) in err and "at least 2" in err
    assert not out.exists()
    with pytest.raises(ValueError, match="at least 2"):
        project(np.zeros((1, 4)), "pca")


def test_phrases_command_will_not_overwrite_its_input(attention_checkpoint, tmp_path, capsys):
    phrases_file = write_lines(tmp_path / "phrases.txt", PHRASES)
    assert main(["phrases", "--checkpoint", str(attention_checkpoint), "--phrases",
                 str(phrases_file), "--output", str(tmp_path / "map.png"), "--tsv",
                 str(phrases_file), "--device", "cpu"]) == 1
    assert "also an input" in capsys.readouterr().err
    assert phrases_file.read_text(encoding="utf-8").splitlines() == PHRASES


def test_frequent_pieces_follow_the_scores_or_the_corpus_counts(tokenizers):
    tokenizer = tokenizers.source
    processor = spm.SentencePieceProcessor(model_proto=tokenizer.to_bytes())
    ordinary = [i for i in range(processor.get_piece_size()) if i not in SPECIAL_IDS]
    by_score = sorted(ordinary, key=lambda i: (-processor.get_score(i), i))
    assert frequent_pieces(tokenizer, 10) == by_score[:10]

    corpus = ["the dog", "the cat", "the"]
    counts: dict[int, int] = {}
    for ids in tokenizer.encode_batch(corpus):
        for piece_id in ids:
            counts[piece_id] = counts.get(piece_id, 0) + 1
    found = frequent_pieces(tokenizer, 3, corpus)
    assert found == sorted(counts, key=lambda i: (-counts[i], i))[:3]
    assert all(i not in SPECIAL_IDS for i in found)


def test_embeddings_command_maps_the_most_frequent_pieces(attention_checkpoint, tokenizers,
                                                          tmp_path):
    out, tsv = tmp_path / "words.png", tmp_path / "words.tsv"
    assert main(["embeddings", "--checkpoint", str(attention_checkpoint), "--side", "tgt",
                 "--top", "12", "--output", str(out), "--tsv", str(tsv), "--method", "pca",
                 "--device", "cpu"]) == 0
    png_pixels(out)
    ids = frequent_pieces(tokenizers.target, 12)
    rows = read_tsv(tsv)
    assert [label for label, _, _ in rows] == [tokenizers.target.id_to_piece(i) for i in ids]
    model = make_model(tokenizers, "bahdanau")
    vectors = embedding_vectors(model, "tgt", ids)
    torch.testing.assert_close(vectors, model.tgt_embedding.weight[ids].detach())
    expected = PCA(n_components=2).fit_transform(vectors.double().numpy())
    np.testing.assert_allclose([(x, y) for _, x, y in rows], expected, atol=1e-5)


# ---- the training callback -------------------------------------------------------------------


class FakePreparation:
    """The data module's prepared corpus, as far as the callback reads it."""

    def __init__(self, sources: list[str]):
        self.rows = [{"src": text, "tgt": ""} for text in sources]

    def prepared_split(self, split: str) -> list[dict]:
        assert split == "validation"
        return self.rows


def fake_trainer(root: Path, tokenizers: TokenizerPair, loggers: list, **changes):
    preparation = FakePreparation(["", "the dog runs", "a big red house", "near the river",
                                   "the cat"])
    trainer = SimpleNamespace(
        sanity_checking=False, state=SimpleNamespace(fn="fit"), is_global_zero=True,
        global_step=7, default_root_dir=str(root), loggers=loggers,
        datamodule=SimpleNamespace(tokenizers=tokenizers, preparation=preparation))
    return SimpleNamespace(**{**vars(trainer), **changes})


def test_callback_draws_the_first_validation_sentences_and_logs_them(tokenizers, tmp_path,
                                                                     monkeypatch):
    model = make_model(tokenizers, "bahdanau")
    search = SearchOptions(beam_size=1, max_len_a=1.0, max_len_b=3)
    module = SimpleNamespace(model=model, device=torch.device("cpu"), validation_search=search)
    tensorboard = TensorBoardLogger(tmp_path / "tb")
    added = []
    monkeypatch.setattr(tensorboard.experiment, "add_figure",
                        lambda tag, figure, global_step, close: added.append(
                            (tag, figure, global_step)))
    trainer = fake_trainer(tmp_path, tokenizers, [CSVLogger(tmp_path / "csv"), tensorboard])
    AttentionPlotCallback(num_sentences=2).on_validation_epoch_end(trainer, module)

    assert sorted(path.name for path in (tmp_path / "attention").iterdir()) == [
        "step7_1.png", "step7_2.png"]
    assert [(tag, step) for tag, _, step in added] == [("attention/1", 7), ("attention/2", 7)]
    for number, (sentence, (_, figure, _)) in enumerate(
            zip(["the dog runs", "a big red house"], added), start=1):  # the empty one skipped
        ids = tokenizers.source.encode(sentence)
        [hypothesis] = greedy_search(model, torch.tensor([ids]), torch.tensor([len(ids)]), search,
                                     alignments=True)
        axes = figure.axes[0]
        np.testing.assert_allclose(axes.images[0].get_array(), hypothesis.alignment.numpy(),
                                   rtol=1e-5, atol=1e-7)  # decoded in a batch of two
        assert labels(axes.get_xticklabels()) == [tokenizers.source.id_to_piece(i) for i in ids]
        assert labels(axes.get_yticklabels()) == [
            tokenizers.target.id_to_piece(i) for i in hypothesis.tokens] + ["</s>"]
        drawn = Alignment(labels(axes.get_xticklabels()), labels(axes.get_yticklabels()),
                          axes.images[0].get_array().tolist())
        np.testing.assert_array_equal(png_pixels(tmp_path / "attention" / f"step7_{number}.png"),
                                      figure_pixels(attention_figure(drawn, title="step 7")))


def test_callback_skips_sanity_checks_other_ranks_and_models_without_attention(tokenizers,
                                                                              tmp_path):
    callback = AttentionPlotCallback()
    attention = SimpleNamespace(model=make_model(tokenizers, "bahdanau"),
                                device=torch.device("cpu"))
    for changes in ({"sanity_checking": True}, {"is_global_zero": False},
                    {"state": SimpleNamespace(fn="validate")}):
        callback.on_validation_epoch_end(fake_trainer(tmp_path, tokenizers, [], **changes),
                                         attention)
    plain = SimpleNamespace(model=make_model(tokenizers, "none"), device=torch.device("cpu"))
    callback.on_validation_epoch_end(fake_trainer(tmp_path, tokenizers, []), plain)
    AttentionPlotCallback(num_sentences=0).on_validation_epoch_end(
        fake_trainer(tmp_path, tokenizers, []), attention)
    assert not (tmp_path / "attention").exists()


@pytest.mark.slow
def test_callback_in_a_real_fit_and_curves_of_its_run(tmp_path, cache):
    """A 2-step fit of an attention model validating after each step, with the training CLI's
    own callback: PNGs and TensorBoard images; then the run's own curves."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from seq2seq.cli import main as train

    root = tmp_path / "run"
    assert train(fit_args(root, cache, "--trainer.max_steps", "2", "--trainer.val_check_interval",
                          "1", "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps",
                          "1", "--model.network.attention", "bahdanau",
                          "--attention_plots.num_sentences", "2")) == 0
    pngs = sorted(path.name for path in (root / "attention").iterdir())
    assert pngs == ["step1_1.png", "step1_2.png", "step2_1.png", "step2_2.png"]
    for name in pngs:
        png_pixels(root / "attention" / name)
    [events] = (root / "tensorboard").glob("version_0")
    accumulator = EventAccumulator(str(events), size_guidance={"images": 0}).Reload()
    assert sorted(accumulator.Tags()["images"]) == ["attention/1", "attention/2"]
    assert [event.step for event in accumulator.Images("attention/1")] == [1, 2]

    run = read_run(root)
    with open(root / "logs" / "version_0" / "metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert run.series["train_loss"] == ([int(r["step"]) for r in rows if r["train_loss"]],
                                        [float(r["train_loss"]) for r in rows if r["train_loss"]])
    assert len(run.series["train_loss"][0]) == 2 and len(run.series["val_bleu"][0]) == 2
    assert run.series["lr"][1] == [float(r["lr"]) for r in rows if r["lr"]]
    out = tmp_path / "curves.png"
    assert main(["curves", str(root), "--output", str(out)]) == 0
    png_pixels(out)
