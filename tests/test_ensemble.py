"""Ensembles: one search over several models' averaged, renormalised log probabilities."""

import pytest
import torch

from seq2seq.checkpoint import (
    CheckpointError,
    prefixed_state_dict,
    save_checkpoint,
    translation_payload,
)
from seq2seq.commands import evaluate, score, translate
from seq2seq.ensemble import Ensemble
from seq2seq.search import (
    _at_least_one_column,
    beam_search,
    force_decode,
    greedy_search,
    sample_search,
)
from seq2seq.steps import ModelSteps
from seq2seq.tokenizer import TokenizerPair
from seq2seq.translator import Translator
from seq2seq.vocab import BOS_ID
from tests.test_commands import make_model, sentences, write_checkpoint, write_lines
from tests.test_search import SOURCES, sources, tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def members(*seeds_and_attention):
    return [ModelSteps(tiny_model(attention, seed=seed)) for seed, attention in seeds_and_attention]


def test_a_step_is_the_renormalised_weighted_mean_of_the_members_log_probs():
    first, second = members((0, "none"), (1, "bahdanau"))
    ensemble = Ensemble([first, second], weights=[3.0, 1.0])
    src, lengths = sources(*SOURCES)
    prev = torch.full((len(SOURCES),), BOS_ID)
    step = ensemble.step(prev, ensemble.start(src, lengths))
    a = first.step(prev, first.start(src, lengths))
    b = second.step(prev, second.start(src, lengths))
    expected = torch.log_softmax(0.75 * a.log_probs + 0.25 * b.log_probs, dim=-1)
    torch.testing.assert_close(step.log_probs, expected, rtol=0, atol=1e-12)
    assert torch.allclose(step.log_probs.exp().sum(-1), torch.ones(len(SOURCES), dtype=torch.float64))
    # only the second member attends: its weights are the ensemble's
    torch.testing.assert_close(step.attention, b.attention.float())


def test_an_ensemble_of_a_model_with_itself_decodes_as_the_model():
    model = tiny_model("bahdanau", seed=2)
    twice = Ensemble([ModelSteps(model), ModelSteps(model)])
    src, lengths = sources(*SOURCES)
    alone = beam_search(model, src, lengths, beam_size=4, nbest=3)
    doubled = beam_search(twice, src, lengths, beam_size=4, nbest=3)
    assert [[h.tokens for h in found] for found in doubled] == [[h.tokens for h in found] for found in alone]
    assert [h.log_prob for found in doubled for h in found] == pytest.approx(
        [h.log_prob for found in alone for h in found], abs=1e-9)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_search_scores_are_the_ensembles_forced_decoding_scores(beam_size):
    ensemble = Ensemble(members((0, "none"), (1, "bahdanau"), (2, "none")), weights=[1, 2, 3])
    src, lengths = sources(*SOURCES)
    if beam_size == 1:
        found = [[h] for h in greedy_search(ensemble, src, lengths, alpha=0.0)]
    else:
        found = beam_search(ensemble, src, lengths, beam_size=beam_size, nbest=2, alpha=0.0)
    for index, hypotheses in enumerate(found):
        one_src, one_lengths = sources(*[SOURCES[index]] * len(hypotheses))
        forced = force_decode(ensemble, one_src, one_lengths, [h.tokens for h in hypotheses])
        assert [h.log_prob for h in hypotheses] == pytest.approx([total for total, _ in forced],
                                                                 abs=1e-9)


def test_the_ensemble_finds_what_neither_member_prefers_alone():
    """The members disagree somewhere; the ensemble's output is its own argmax, not a member's."""
    a, b = members((0, "none"), (5, "none"))
    ensemble = Ensemble([a, b])
    src, lengths = sources(*SOURCES)
    outputs = [[h.tokens for h in greedy_search(model, src, lengths)] for model in (a, b, ensemble)]
    assert outputs[0] != outputs[1]  # the check below would be empty otherwise
    expected = []  # greedy by hand on the mean distribution
    for index in range(len(SOURCES)):
        one_src, one_lengths = _at_least_one_column(*sources(SOURCES[index]))
        state, prev, tokens = ensemble.start(one_src, one_lengths), torch.tensor([BOS_ID]), []
        for _ in range(100):
            step = ensemble.step(prev, state)
            allowed = step.log_probs.clone()
            allowed[:, [0, BOS_ID]] = float("-inf")
            prev, state = allowed.argmax(-1), step.state
            if int(prev) == 2 or len(tokens) == int(1.5 * len(SOURCES[index]) + 10):
                break
            tokens.append(int(prev))
        expected.append(tokens)
    assert outputs[2] == expected


def test_sampling_runs_on_an_ensemble_and_is_seeded():
    ensemble = Ensemble(members((0, "none"), (1, "bahdanau")))
    src, lengths = sources(*SOURCES)
    draws = [sample_search(ensemble, src, lengths, nbest=3,
                           generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert [[h.tokens for h in found] for found in draws[0]] == \
        [[h.tokens for h in found] for found in draws[1]]


def test_huge_weights_are_scaled_without_overflow():
    two = members((0, "none"), (1, "none"))
    assert Ensemble(two, [1e308, 1e308]).weights == [0.5, 0.5]
    assert Ensemble(two, [3e307, 1e307]).weights == pytest.approx([0.75, 0.25])


def test_bad_weights_are_refused():
    two = members((0, "none"), (1, "none"))
    for weights, problem in (([1.0], "1 weights for 2 models"), ([1.0, 0.0], "positive"),
                             ([1.0, float("nan")], "positive"), ([1.0, float("inf")], "positive")):
        with pytest.raises(ValueError, match=problem):
            Ensemble(two, weights)
    with pytest.raises(ValueError, match="at least one"):
        Ensemble([])


# ---- checkpoints and commands ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizers() -> TokenizerPair:
    text = sentences(300)
    return TokenizerPair.train(text, text, joint=False, vocab_size=60, hard_vocab_limit=False)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tokenizers):
    folder = tmp_path_factory.mktemp("ensemble")
    return [write_checkpoint(folder / f"m{seed}.ckpt", make_model(tokenizers, seed), tokenizers)
            for seed in (0, 1)]


def test_translator_over_checkpoints_equals_the_ensemble_of_their_models(pair, tokenizers):
    lines = sentences(40)[5:]
    ensemble = Translator.from_checkpoint(pair)
    by_hand = Translator([make_model(tokenizers, 0), make_model(tokenizers, 1)], tokenizers)
    assert isinstance(ensemble.decoder, Ensemble) and len(ensemble.models) == 2
    assert ensemble.translate(lines, beam_size=3) == by_hand.translate(lines, beam_size=3)
    singles = [Translator.from_checkpoint(path).translate(lines, beam_size=3) for path in pair]
    assert singles[0] != singles[1]
    scores = ensemble.score(lines, ensemble.translate(lines, beam_size=1))
    assert [s.total for s in scores] == pytest.approx(
        [s.total for s in by_hand.score(lines, by_hand.translate(lines, beam_size=1))])


def test_members_with_other_vocabularies_are_refused_naming_the_checkpoint(pair, tmp_path):
    text = [line.upper() for line in sentences(300)]
    other = TokenizerPair.train(text, text, joint=False, vocab_size=60, hard_vocab_limit=False)
    stranger = write_checkpoint(tmp_path / "stranger.ckpt", make_model(other, 3), other)
    with pytest.raises(CheckpointError, match="stranger.ckpt: its source subword vocabulary "
                                              "differs from .*m0.ckpt"):
        Translator.from_checkpoint([pair[0], stranger])


def test_members_translating_another_language_pair_are_refused(pair, tokenizers, tmp_path):
    reversed_pair = tmp_path / "de-en.ckpt"
    model = make_model(tokenizers, 2)
    save_checkpoint(reversed_pair, prefixed_state_dict(model),
                    translation_payload(model, tokenizers, "de", "en"))
    with pytest.raises(CheckpointError, match="de-en.ckpt translates de→en, but .*m0.ckpt en→de"):
        Translator.from_checkpoint([pair[0], reversed_pair])


def test_commands_take_several_checkpoints(pair, tmp_path, capsys):
    lines = sentences(30)[3:]
    source = write_lines(tmp_path / "in.txt", lines)
    expected = Translator.from_checkpoint(pair, weights=[2, 1]).translate(lines, beam_size=2)
    out = tmp_path / "out.txt"
    assert translate.main(["--checkpoint", *map(str, pair), "--ensemble-weights", "2", "1",
                           "--input", str(source), "--output", str(out), "--beam-size", "2",
                           "--device", "cpu"]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == expected
    reference = write_lines(tmp_path / "ref.txt", expected)
    assert evaluate.main(["--checkpoint", *map(str, pair), "--ensemble-weights", "2", "1",
                          "--source", str(source), "--references", str(reference),
                          "--beam-size", "2", "--json", "--device", "cpu"]) == 0
    assert '"score": 100.0' in capsys.readouterr().out
    assert score.main(["--checkpoint", *map(str, pair), "--src", str(source), "--tgt",
                       str(reference), "--device", "cpu"]) == 0


def test_ensemble_weights_must_match_the_checkpoints(pair, tmp_path, capsys):
    source = write_lines(tmp_path / "in.txt", ["the dog"])
    status = translate.main(["--checkpoint", *map(str, pair), "--ensemble-weights", "1",
                             "--input", str(source), "--device", "cpu"])
    assert status == 2
    assert "--ensemble-weights: 1 weights for 2 checkpoints" in capsys.readouterr().err
    status = translate.main(["--checkpoint", *map(str, pair), "--ensemble-weights", "1", "-1",
                             "--input", str(source), "--device", "cpu"])
    assert status == 2 and "positive" in capsys.readouterr().err


def test_a_bad_member_is_named(pair, tmp_path, capsys):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    source = write_lines(tmp_path / "in.txt", ["the dog"])
    assert translate.main(["--checkpoint", str(pair[0]), str(broken), "--input", str(source),
                           "--device", "cpu"]) == 2
    assert "broken.ckpt" in capsys.readouterr().err
