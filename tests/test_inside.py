"""Alignments, sampling and phrase-table scoring (the paper's own uses of the model)."""

import gzip
import json
import math

import pytest
import torch

from seq2seq.batching import pad_sequences
from seq2seq.commands import score, translate
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.search import (
    _filtered_probabilities,
    beam_search,
    force_decode,
    greedy_search,
    sample_search,
)
from seq2seq.tokenizer import TokenizerPair
from seq2seq.translator import Translator
from seq2seq.vocab import BOS_ID
from tests.test_commands import make_model, sentences, write_checkpoint, write_lines
from tests.test_search import SOURCES, sources, tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizers() -> TokenizerPair:
    text = sentences(300)
    return TokenizerPair.train(text, text, joint=False, vocab_size=60, hard_vocab_limit=False)


def attention_model(tokenizers: TokenizerPair, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    config = ModelConfig(src_vocab_size=tokenizers.source.vocab_size,
                         tgt_vocab_size=tokenizers.target.vocab_size, embedding_size=8,
                         hidden_size=16, maxout_size=8, init="pytorch", attention="bahdanau",
                         bidirectional_encoder=True)
    model = Seq2Seq(config).eval()
    with torch.no_grad():
        model.output.weight.mul_(3.0)
        model.attention.score.weight.mul_(20.0)  # peaked weights, far from uniform
    return model


def teacher_forced_attention(model: Seq2Seq, src_ids: list[int], tokens: list[int]) -> torch.Tensor:
    """(len(tokens) + 1, S) the attention of each step of decoding ``tokens`` then EOS."""
    src, lengths = pad_sequences([src_ids])
    encoded = model.encode(src, lengths)
    hidden, rows = model.initial_hidden(encoded), []
    for prev in [BOS_ID, *tokens]:
        _, hidden, weights = model.decode_step(torch.tensor([prev]), hidden, encoded)
        rows.append(weights[0])
    return torch.stack(rows)


# ---- alignments -------------------------------------------------------------------------------


@pytest.mark.parametrize("beam_size", [1, 3])
def test_search_alignments_are_the_attention_of_each_output_step(beam_size):
    model = tiny_model("bahdanau", seed=3)
    src, lengths = sources(*SOURCES)
    if beam_size == 1:
        found = [[h] for h in greedy_search(model, src, lengths, alignments=True)]
        plain = [[h] for h in greedy_search(model, src, lengths)]
    else:
        found = beam_search(model, src, lengths, beam_size=3, nbest=3, alignments=True)
        plain = beam_search(model, src, lengths, beam_size=3, nbest=3)
    assert [[h.tokens for h in hs] for hs in found] == [[h.tokens for h in hs] for hs in plain]
    for source, hypotheses in zip(SOURCES, found):
        for hypothesis in hypotheses:
            assert hypothesis.alignment.shape == (len(hypothesis.tokens) + 1, len(source))
            if source:
                expected = teacher_forced_attention(model, source, hypothesis.tokens)
                torch.testing.assert_close(hypothesis.alignment, expected.float(), rtol=0,
                                           atol=1e-6)


def test_translator_alignments_name_the_pieces_and_rows_sum_to_one(tokenizers):
    model = attention_model(tokenizers)
    translator = Translator(model, tokenizers)
    lines = ["the dog runs", "", "a big red house sees the small cat tree"]
    for nbest in (1, 3):
        translations = list(translator.translate_stream(lines, beam_size=3, nbest=nbest,
                                                        alignments=True))
        assert translations[1].alignments == []
        for line, translation in zip(lines, translations):
            assert len(translation.alignments) == len(translation.hypotheses)
            pieces = [tokenizers.source.id_to_piece(i) for i in tokenizers.source.encode(line)]
            for (text, _), alignment in zip(translation.hypotheses, translation.alignments):
                assert alignment.source_tokens == pieces
                target_ids = tokenizers.target.encode(text)
                assert tokenizers.target.decode([tokenizers.target.piece_to_id(p)
                                                 for p in alignment.target_tokens[:-1]]) == text
                assert alignment.target_tokens[-1] == "</s>"
                weights = torch.tensor(alignment.weights)
                assert weights.shape == (len(alignment.target_tokens), len(pieces))
                torch.testing.assert_close(weights.sum(1), torch.ones(len(weights)))
                assert len(target_ids) <= len(alignment.target_tokens)


def test_alignments_of_a_model_without_attention_are_refused(tokenizers):
    translator = Translator(make_model(tokenizers, 0), tokenizers)
    with pytest.raises(ValueError, match="alignments need a model with attention"):
        list(translator.translate_stream(["the dog"], alignments=True))


def test_translate_json_alignments(tokenizers, tmp_path, capsys):
    model = attention_model(tokenizers)
    checkpoint = write_checkpoint(tmp_path / "att.ckpt", model, tokenizers)
    source = write_lines(tmp_path / "in.txt", ["the dog runs", "", "a red tree"])
    assert translate.main(["--checkpoint", str(checkpoint), "--input", str(source), "--json",
                           "--alignments", "--beam-size", "2", "--nbest", "2",
                           "--device", "cpu"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = list(Translator(model, tokenizers).translate_stream(
        ["the dog runs", "", "a red tree"], beam_size=2, nbest=2, alignments=True))
    for record, translation in zip(records, expected):
        assert record["alignment"] == [a.weights for a in translation.alignments]
        assert record["source_tokens"] == [a.source_tokens for a in translation.alignments]
        assert record["target_tokens"] == [a.target_tokens for a in translation.alignments]
    assert records[1]["alignment"] == []


def test_translate_alignments_usage_errors(tokenizers, tmp_path, capsys):
    plain = write_checkpoint(tmp_path / "plain.ckpt", make_model(tokenizers, 0), tokenizers)
    source = write_lines(tmp_path / "in.txt", ["the dog"])
    assert translate.main(["--checkpoint", str(plain), "--input", str(source), "--json",
                           "--alignments", "--device", "cpu"]) == 2
    assert "--alignments: this model has no attention" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        translate.main(["--checkpoint", str(plain), "--input", str(source), "--alignments"])
    assert exit_.value.code == 2 and "--alignments needs --json" in capsys.readouterr().err


# ---- sampling ----------------------------------------------------------------------------------


def test_filtered_probabilities_apply_temperature_top_k_and_top_p_exactly():
    log_probs = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64))
    at_two = _filtered_probabilities(log_probs, 2.0, 0, 1.0)
    expected = torch.sqrt(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    torch.testing.assert_close(at_two[0], expected / expected.sum())
    top_two = _filtered_probabilities(log_probs, 1.0, 2, 1.0)
    torch.testing.assert_close(top_two[0], torch.tensor([0, 0, 3 / 7, 4 / 7], dtype=torch.float64))
    nucleus = _filtered_probabilities(log_probs, 1.0, 0, 0.65)  # 0.4 + 0.3 reach 0.65
    torch.testing.assert_close(nucleus[0], torch.tensor([0, 0, 3 / 7, 4 / 7], dtype=torch.float64))
    smallest = _filtered_probabilities(log_probs, 1.0, 0, 0.01)  # the most probable stays
    torch.testing.assert_close(smallest[0], torch.tensor([0, 0, 0, 1.0], dtype=torch.float64))
    banned = log_probs.clone()
    banned[0, 3] = -math.inf
    torch.testing.assert_close(_filtered_probabilities(banned, 1.0, 0, 1.0)[0],
                               torch.tensor([1 / 6, 2 / 6, 3 / 6, 0], dtype=torch.float64))


def test_sampling_is_seeded_scored_by_the_model_and_greedy_at_temperature_zero():
    model = tiny_model("bahdanau", seed=4, sharpness=1.0)
    src, lengths = sources(*SOURCES)

    def draw(seed, **options):
        return sample_search(model, src, lengths, nbest=4, alpha=0.0,
                             generator=torch.Generator().manual_seed(seed), **options)

    first, again, other = draw(1), draw(1), draw(2)
    assert [[h.tokens for h in hs] for hs in first] == [[h.tokens for h in hs] for hs in again]
    assert [[h.tokens for h in hs] for hs in first] != [[h.tokens for h in hs] for hs in other]
    for source, samples in zip(SOURCES, first):
        assert [h.score for h in samples] == sorted((h.score for h in samples), reverse=True)
        forced = force_decode(model, *sources(*[source] * len(samples)), [h.tokens for h in samples])
        assert [h.log_prob for h in samples] == pytest.approx([t for t, _ in forced], abs=1e-9)
    greedy = [h.tokens for h in greedy_search(model, src, lengths)]
    for options in ({"temperature": 0.0}, {"temperature": 1e-4}, {"temperature": 1e-45},
                    {"temperature": 5e-324}, {"top_k": 1}, {"top_p": 1e-9}, {"top_p": 1e-300}):
        cold = draw(3, **options)
        assert [[h.tokens for h in hs] for hs in cold] == [[g] * 4 for g in greedy], options


def test_translator_samples_are_reproducible_with_a_seed(tokenizers):
    translator = Translator(make_model(tokenizers, 0, hidden_size=16), tokenizers)
    lines = sentences(20)[3:]

    def samples(seed):
        return translator.translate(lines, sampling=True, nbest=3, seed=seed, temperature=1.5)

    assert samples(5) == samples(5)
    assert samples(5) != samples(6)
    assert all(len(hypotheses) == 3 for hypotheses in samples(5))


def test_translate_sample_command(tokenizers, tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "m.ckpt", make_model(tokenizers, 0), tokenizers)
    source = write_lines(tmp_path / "in.txt", sentences(12)[2:])
    runs = []
    for _ in range(2):
        assert translate.main(["--checkpoint", str(checkpoint), "--input", str(source),
                               "--sample", "--nbest", "8", "--seed", "11", "--top-p", "0.9",
                               "--device", "cpu"]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1]
    assert all(len(line.split("\t")) == 16 for line in runs[0].splitlines())
    with pytest.raises(SystemExit):
        translate.main(["--checkpoint", str(checkpoint), "--sample", "--top-p", "0"])
    assert "--top-p must be more than 0" in capsys.readouterr().err


# ---- phrase tables ----------------------------------------------------------------------------


PHRASES = [
    ("the dog", "der Hund", "0.5 0.25 0.1 0.2", ["0-0 1-1", "4 2 1"]),
    ("a big red house", "die Katze", "1 1", []),
    ("tree", "sieht läuft", "0.0001 2.718", ["0-0 0-1"]),
]


def test_phrase_table_round_trip_adds_exactly_the_models_probability(tokenizers, tmp_path, capsys):
    model = make_model(tokenizers, 0)
    checkpoint = write_checkpoint(tmp_path / "m.ckpt", model, tokenizers)
    lines = [" ||| ".join([src, tgt, scores, *rest]) for src, tgt, scores, rest in PHRASES * 7]
    table = tmp_path / "phrase-table.gz"
    with gzip.open(table, "wt", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
    out = tmp_path / "rescored.gz"
    assert score.main(["--checkpoint", str(checkpoint), "--phrase-table", str(table), "--output",
                       str(out), "--buffer-size", "4", "--device", "cpu"]) == 0
    with gzip.open(out, "rt", encoding="utf-8") as handle:
        written = handle.read().split("\n")
    assert written[-1] == "" and len(written) - 1 == len(lines)
    srcs = write_lines(tmp_path / "src.txt", [line.split(" ||| ")[0] for line in lines])
    tgts = write_lines(tmp_path / "tgt.txt", [line.split(" ||| ")[1] for line in lines])
    assert score.main(["--checkpoint", str(checkpoint), "--src", str(srcs), "--tgt", str(tgts),
                       "--json", "--device", "cpu"]) == 0
    totals = [json.loads(line)["total"] for line in capsys.readouterr().out.splitlines()]
    for before, after, total in zip(lines, written, totals):
        old, new = before.split(" ||| "), after.split(" ||| ")
        assert len(new) == len(old) and new[:2] == old[:2] and new[3:] == old[3:]
        assert new[2].split()[:-1] == old[2].split()
        assert float(new[2].split()[-1]) == math.exp(total)


@pytest.mark.parametrize("bad, problem", [
    ("the dog ||| der Hund", "table.txt:3: not a phrase-table line"),
    ("the dog ||| der Hund ||| 0.5 nan", "table.txt:3: the scores field holds 'nan', not a finite"),
    ("the dog ||| der Hund ||| ||| 0-0", "table.txt:3: the scores field is empty"),
    ("the dog ||| der Hund ||| 0.5 high", "table.txt:3: the scores field holds 'high'"),
    (" ||| der Hund ||| 0.5", "table.txt:3: empty source phrase"),
])
def test_malformed_phrase_table_lines_are_named(tokenizers, tmp_path, capsys, bad, problem):
    checkpoint = write_checkpoint(tmp_path / "m.ckpt", make_model(tokenizers, 0), tokenizers)
    table = write_lines(tmp_path / "table.txt", ["a ||| b ||| 1", "c ||| d ||| 1", bad])
    out = tmp_path / "out.txt"
    out.write_text("PREVIOUS\n")
    assert score.main(["--checkpoint", str(checkpoint), "--phrase-table", str(table),
                       "--output", str(out), "--buffer-size", "2", "--device", "cpu"]) == 1
    assert problem in capsys.readouterr().err
    assert out.read_text() == "PREVIOUS\n"


def test_an_empty_phrase_table_is_an_error_and_keeps_the_previous_output(tokenizers, tmp_path,
                                                                         capsys):
    checkpoint = write_checkpoint(tmp_path / "m.ckpt", make_model(tokenizers, 0), tokenizers)
    table = tmp_path / "empty.txt"
    table.write_text("")
    out = tmp_path / "out.txt"
    out.write_text("PREVIOUS\n")
    assert score.main(["--checkpoint", str(checkpoint), "--phrase-table", str(table),
                       "--output", str(out), "--device", "cpu"]) == 1
    assert "nothing to score: " in capsys.readouterr().err
    assert out.read_text() == "PREVIOUS\n"
