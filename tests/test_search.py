import itertools
import math

import pytest
import torch
from torch import nn

from seq2seq.batching import pad_sequences
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.search import (
    SearchOptionError,
    SearchOptions,
    _allowed_log_probs,
    _at_least_one_column,
    _row_topk,
    beam_search,
    force_decode,
    greedy_search,
)
from seq2seq.steps import Step, log_softmax
from seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

A, B, C = 4, 5, 6  # ordinary target tokens of the scripted models


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(attention: str = "none", tgt_vocab_size: int = 9, seed: int = 0,
               sharpness: float = 4.0) -> Seq2Seq:
    """A random float64 model whose next-token distributions are far from uniform."""
    torch.manual_seed(seed)
    config = ModelConfig(src_vocab_size=11, tgt_vocab_size=tgt_vocab_size, embedding_size=8,
                         hidden_size=12, maxout_size=6, attention=attention, init="pytorch")
    model = Seq2Seq(config).double().eval()
    with torch.no_grad():
        model.output.weight.mul_(sharpness)
    return model


def sources(*sentences: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_sequences([list(s) for s in sentences], pad_id=PAD_ID)


SOURCES = [[4, 5, 6, 7], [8], [], [9, 10, 4, 4, 5, 6, 7], [6, 6]]


class MarkovModel(nn.Module):
    """A scripted :class:`~seq2seq.steps.StepDecoder`: the next token's distribution depends on
    the previous token only.

    ``table[prev] = {token: probability}``; unlisted tokens get a tiny probability, and
    rows are renormalised. It counts its decoding steps.
    """

    has_attention = False

    def __init__(self, table: dict[int, dict[int, float]], vocab_size: int = 8):
        super().__init__()
        logits = torch.full((vocab_size, vocab_size), math.log(1e-6), dtype=torch.float64)
        for prev, row in table.items():
            for token, probability in row.items():
                logits[prev, token] = math.log(probability)
        self.register_buffer("logits", logits.log_softmax(dim=1))
        self.steps = 0

    def log_prob(self, tokens: list[int]) -> float:
        """log p(tokens + EOS)."""
        path = [BOS_ID, *tokens, EOS_ID]
        return sum(float(self.logits[prev, token]) for prev, token in itertools.pairwise(path))

    def start(self, src, src_lengths):
        return NoState()

    def step(self, prev_tokens, state):
        self.steps += 1
        return Step(self.logits[prev_tokens], state, None)

    def forced_log_probs(self, src, src_lengths, tgt_in):
        return self.logits[tgt_in]


class NoState:
    """The Markov model's state: nothing (its next step depends on the last token only)."""

    def index_select(self, rows):
        return self

    def reorder_hidden(self, rows):
        return self


def all_outputs(vocab: list[int], max_len: int):
    for length in range(max_len + 1):
        yield from (list(tokens) for tokens in itertools.product(vocab, repeat=length))


def brute_force_ranking(model, src: list[int], max_len: int, alpha: float):
    """Every possible output scored by forced decoding, best first: [(score, tokens, log_prob)]."""
    vocab = [token for token in range(model.config.tgt_vocab_size)
             if token not in (PAD_ID, BOS_ID, EOS_ID)]
    outputs = list(all_outputs(vocab, max_len))
    batch_src, batch_lengths = sources(*[src] * len(outputs))
    scored = force_decode(model, batch_src, batch_lengths, outputs)
    ranking = [(log_prob / (len(tokens) + 1) ** alpha, tokens, log_prob)
               for tokens, (log_prob, _) in zip(outputs, scored)]
    return sorted(ranking, key=lambda item: -item[0])


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_large_beam_finds_the_exact_ranking_of_an_enumerable_model(attention, alpha):
    model = tiny_model(attention, tgt_vocab_size=6, sharpness=2.0)  # 3 output tokens: UNK, A, B
    max_len = 4  # 121 possible outputs, at most 3**3 * 4 = 108 candidates per step
    src, lengths = sources([4, 5, 6], [7])
    found = beam_search(model, src, lengths, beam_size=128, nbest=121, alpha=alpha,
                        max_len_a=0, max_len_b=max_len)
    for sentence, hypotheses in zip([[4, 5, 6], [7]], found):
        expected = brute_force_ranking(model, sentence, max_len, alpha)
        assert len(hypotheses) == len(expected) == 121
        assert [h.tokens for h in hypotheses[:20]] == [tokens for _, tokens, _ in expected[:20]]
        assert [h.score for h in hypotheses] == pytest.approx([s for s, _, _ in expected], abs=1e-9)
        assert [h.log_prob for h in hypotheses] == pytest.approx([p for _, _, p in expected],
                                                                  abs=1e-9)


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_beam_size_one_is_greedy_search(attention):
    model = tiny_model(attention)
    src, lengths = sources(*SOURCES)
    greedy = greedy_search(model, src, lengths, alpha=0.0)
    beam = beam_search(model, src, lengths, beam_size=1, alpha=0.0)
    assert [[h.tokens for h in nbest] for nbest in beam] == [[h.tokens] for h in greedy]
    assert [nbest[0].log_prob for nbest in beam] == pytest.approx([h.log_prob for h in greedy])
    assert any(len(h.tokens) > 1 for h in greedy)


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_results_do_not_depend_on_batch_size_or_order(attention):
    model = tiny_model(attention)
    order = [3, 0, 4, 2, 1]
    batched = beam_search(model, *sources(*[SOURCES[i] for i in order]), beam_size=4, nbest=3)
    greedy_batched = greedy_search(model, *sources(*[SOURCES[i] for i in order]))
    for position, index in enumerate(order):
        alone = beam_search(model, *sources(SOURCES[index]), beam_size=4, nbest=3)[0]
        assert [h.tokens for h in batched[position]] == [h.tokens for h in alone]
        assert [h.score for h in batched[position]] == pytest.approx([h.score for h in alone])
        greedy_alone = greedy_search(model, *sources(SOURCES[index]))[0]
        assert greedy_batched[position].tokens == greedy_alone.tokens
        assert greedy_batched[position].log_prob == pytest.approx(greedy_alone.log_prob)


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_log_probs_and_scores_agree_with_forced_decoding(attention):
    model = tiny_model(attention)
    src, lengths = sources(*SOURCES)
    for alpha in (0.0, 0.6, 1.0):
        found = beam_search(model, src, lengths, beam_size=5, nbest=5, alpha=alpha)
        for rank in range(5):
            chosen = [nbest[rank] for nbest in found]
            forced = force_decode(model, src, lengths, [h.tokens for h in chosen])
            for hypothesis, (log_prob, num_tokens) in zip(chosen, forced):
                assert num_tokens == len(hypothesis.tokens) + 1
                assert hypothesis.log_prob == pytest.approx(log_prob, abs=1e-9)
                assert hypothesis.score == pytest.approx(log_prob / num_tokens ** alpha)


def test_nbest_is_sorted_distinct_and_free_of_special_tokens():
    model = tiny_model("bahdanau")
    found = beam_search(model, *sources(*SOURCES), beam_size=6, nbest=6, alpha=1.0)
    for nbest in found:
        assert len(nbest) == 6
        scores = [h.score for h in nbest]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in nbest}) == 6
        assert all(token not in (PAD_ID, BOS_ID, EOS_ID) for h in nbest for token in h.tokens)


def test_finished_hypotheses_are_never_extended():
    # From BOS, EOS is likely: the empty output is finished at step 1 and is the best.
    # Extending it (or re-scoring it later) would lose it or change its log probability.
    model = MarkovModel({BOS_ID: {EOS_ID: 0.5, A: 0.3, B: 0.2},
                         A: {A: 0.6, EOS_ID: 0.4}, B: {B: 0.7, EOS_ID: 0.3}})
    src, lengths = sources([4, 4])
    found = beam_search(model, src, lengths, beam_size=3, nbest=3, alpha=0.0)[0]
    assert [h.tokens for h in found] == [[], [A], [A, A]]
    assert [h.log_prob for h in found] == pytest.approx([model.log_prob(h.tokens) for h in found])
    assert found[0].log_prob == pytest.approx(math.log(0.5), abs=1e-5)


@pytest.mark.parametrize("exact_stop", [False, True])
def test_search_stops_early_when_no_beam_can_win(exact_stop):
    model = MarkovModel({BOS_ID: {EOS_ID: 0.9, A: 0.06, B: 0.04},
                         A: {EOS_ID: 0.9, A: 0.1}, B: {EOS_ID: 0.9, B: 0.1}})
    src, lengths = sources([4])
    found = beam_search(model, src, lengths, beam_size=2, nbest=2, alpha=0.0,
                        max_len_a=0, max_len_b=50, exact_stop=exact_stop)[0]
    assert [h.tokens for h in found] == [[], [A]]
    assert model.steps == 2  # A and B finish at step 2: the live AA and BB cannot beat them


def test_default_stop_at_k_finished_skips_what_the_exact_rule_finds():
    # The case below: with K=2 finished after step 2, the default stops and returns [B]
    # first; the exact rule goes on, because B C could still win with alpha=1, and does.
    model = MarkovModel({BOS_ID: {B: 0.5, EOS_ID: 0.3, A: 0.2}, B: {C: 0.55, EOS_ID: 0.45},
                         A: {A: 1.0}, C: {EOS_ID: 0.95, C: 0.05}})
    src, lengths = sources([4])
    default = beam_search(model, src, lengths, beam_size=2, nbest=2, alpha=1.0,
                          max_len_a=0, max_len_b=3)[0]
    steps, model.steps = model.steps, 0
    exact = beam_search(model, src, lengths, beam_size=2, nbest=2, alpha=1.0,
                        max_len_a=0, max_len_b=3, exact_stop=True)[0]
    assert [h.tokens for h in default] == [[B], []] and steps == 2
    assert [h.tokens for h in exact] == [[B, C], [B]] and model.steps > steps


def test_stopping_rule_allows_for_length_normalisation():
    # After step 2 the K=2 finished are [B] (score log .225 / 2) and [] (log .3), and the
    # best live beam B C has log p = log .275 < log .3. Without length normalisation the
    # search could stop; with alpha=1, B C EOS scores log(.275 * .95) / 3, the best of all.
    model = MarkovModel({BOS_ID: {B: 0.5, EOS_ID: 0.3, A: 0.2}, B: {C: 0.55, EOS_ID: 0.45},
                         A: {A: 1.0}, C: {EOS_ID: 0.95, C: 0.05}})
    src, lengths = sources([4])
    found = beam_search(model, src, lengths, beam_size=2, nbest=2, alpha=1.0,
                        max_len_a=0, max_len_b=3, exact_stop=True)[0]
    assert [h.tokens for h in found] == [[B, C], [B]]
    assert found[0].score == pytest.approx(model.log_prob([B, C]) / 3)


def test_length_normalisation_can_prefer_longer_outputs():
    # p([]) = 0.4 and p([A, A, A]) = 0.6 * 0.95**2 * 0.05: lower in total, higher per token.
    model = MarkovModel({BOS_ID: {EOS_ID: 0.4, A: 0.6}, A: {A: 0.95, EOS_ID: 0.05}})
    src, lengths = sources([4])
    raw = beam_search(model, src, lengths, beam_size=3, alpha=0.0, max_len_a=0, max_len_b=3)
    normalised = beam_search(model, src, lengths, beam_size=3, alpha=1.0, max_len_a=0, max_len_b=3,
                             exact_stop=True)  # K=3 finish at steps 1 and 2; A A A at step 4
    assert raw[0][0].tokens == []
    assert normalised[0][0].tokens == [A, A, A]
    assert normalised[0][0].log_prob == pytest.approx(model.log_prob([A, A, A]))


def test_maximum_length_ends_hypotheses_and_charges_eos():
    model = MarkovModel({BOS_ID: {A: 0.99}, A: {A: 0.99}})
    src, lengths = sources([4, 5], [4])
    expected_lengths = [int(1.5 * 2 + 1), int(1.5 * 1 + 1)]
    for found in (greedy_search(model, src, lengths, max_len_a=1.5, max_len_b=1),
                  [nbest[0] for nbest in beam_search(model, src, lengths, beam_size=3,
                                                     max_len_a=1.5, max_len_b=1)]):
        assert [len(h.tokens) for h in found] == expected_lengths
        forced = force_decode(model, src, lengths, [h.tokens for h in found])
        assert [h.log_prob for h in found] == pytest.approx([log_prob for log_prob, _ in forced])


def test_min_length_bans_early_eos():
    model = MarkovModel({BOS_ID: {EOS_ID: 0.9, A: 0.1}, A: {EOS_ID: 0.9, A: 0.1}})
    src, lengths = sources([4])
    assert greedy_search(model, src, lengths)[0].tokens == []
    assert greedy_search(model, src, lengths, min_length=3)[0].tokens == [A, A, A]
    found = beam_search(model, src, lengths, beam_size=4, nbest=4, min_length=3)[0]
    assert all(len(h.tokens) >= 3 for h in found)
    assert found[0].tokens == [A, A, A]


def test_ban_unk():
    model = MarkovModel({BOS_ID: {UNK_ID: 0.7, A: 0.2, EOS_ID: 0.1},
                         UNK_ID: {EOS_ID: 0.9}, A: {EOS_ID: 0.9}})
    src, lengths = sources([4])
    assert greedy_search(model, src, lengths)[0].tokens == [UNK_ID]
    assert greedy_search(model, src, lengths, ban_unk=True)[0].tokens == [A]
    found = beam_search(model, src, lengths, beam_size=4, nbest=4, ban_unk=True)[0]
    assert found[0].tokens == [A]
    assert all(UNK_ID not in h.tokens for h in found)


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_empty_sources_give_finite_results(attention):
    model = tiny_model(attention)
    empty = torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, dtype=torch.long)
    mixed = sources([], [4, 5])
    for src, lengths in (empty, mixed):
        greedy = greedy_search(model, src, lengths)
        beam = beam_search(model, src, lengths, beam_size=3, nbest=3)
        scores = [h.score for h in greedy] + [h.score for nbest in beam for h in nbest]
        assert all(math.isfinite(score) for score in scores)
        assert len(greedy[0].tokens) <= 10  # int(1.5 * 0 + 10)
        forced = force_decode(model, src, lengths, [[], [A]])
        assert all(math.isfinite(log_prob) for log_prob, _ in forced)


def test_force_decode_counts_eos_and_sums_token_log_probs():
    model = MarkovModel({BOS_ID: {A: 0.5, B: 0.5}, A: {EOS_ID: 1.0}, B: {A: 0.5, EOS_ID: 0.5}})
    src, lengths = sources([4], [4, 5])
    forced = force_decode(model, src, lengths, [[A], [B, A]])
    assert forced == [(pytest.approx(model.log_prob([A])), 2),
                      (pytest.approx(model.log_prob([B, A])), 3)]
    assert forced[1][0] == pytest.approx(math.log(0.5 * 0.5 * 1.0), abs=1e-4)


def test_bad_arguments():
    model = tiny_model()
    src, lengths = sources([4])
    with pytest.raises(ValueError, match="nbest"):
        beam_search(model, src, lengths, beam_size=2, nbest=3)
    with pytest.raises(ValueError, match="alpha"):
        beam_search(model, src, lengths, alpha=-1.0)
    with pytest.raises(SearchOptionError, match="alpha must be finite and >= 0, got nan"):
        greedy_search(model, src, lengths, alpha=float("nan"))
    with pytest.raises(SearchOptionError, match="min_length must be at most 11"):
        greedy_search(model, src, lengths, min_length=1000)


BAD_SEARCH_OPTIONS = [
    ({"beam_size": 0}, "beam_size", "must be at least 1, got 0"),
    ({"beam_size": 2.5}, "beam_size", "must be an integer, got 2.5"),
    ({"beam_size": True}, "beam_size", "must be an integer, got True"),
    ({"nbest": 0}, "nbest", "must be at least 1, got 0"),
    ({"beam_size": 2, "nbest": 3}, "nbest", "must be at most beam_size (2), got 3"),
    ({"alpha": float("nan")}, "alpha", "must be finite and >= 0, got nan"),
    ({"alpha": float("inf")}, "alpha", "must be finite and >= 0, got inf"),
    ({"alpha": -0.5}, "alpha", "must be finite and >= 0, got -0.5"),
    ({"alpha": "1"}, "alpha", "must be a number, got '1'"),
    ({"alpha": 1e308}, "alpha", "must be at most 10, got 1e+308"),  # overflowed in scoring
    ({"max_len_a": -5, "max_len_b": -5}, "max_len_a", "must be finite and >= 0, got -5"),
    ({"max_len_b": float("nan")}, "max_len_b", "must be finite and >= 0, got nan"),
    ({"max_len_b": 1e308}, "max_len_b", "must be at most 1e+06, got 1e+308"),
    ({"max_len_a": 1e19}, "max_len_a", "must be at most 1000, got 1e+19"),
    ({"max_len_a": 0, "max_len_b": 0.5}, "max_len_b",
     ("and max_len_a allow a one-token source no output: int(a + b) = 0 (got a=0, b=0.5); "
      "need at least 1")),
    ({"min_length": -1}, "min_length", "must be at least 0, got -1"),
    ({"min_length": 1000}, "min_length",
     ("must be at most 11, the output length max_len_a and max_len_b allow a one-token "
      "source (got 1000); raise max_len_b to allow more")),
    ({"ban_unk": 1}, "ban_unk", "must be true or false, got 1"),
    ({"exact_stop": "no"}, "exact_stop", "must be true or false, got 'no'"),
    ({"beam_size": 1001}, "beam_size", "must be at most 1000, got 1001"),
    ({"sampling": True, "nbest": 10**8}, "nbest", "must be at most 1000, got 100000000"),
    ({"seed": 2**64}, "seed", "must be at most 18446744073709551615, got 18446744073709551616"),
    ({"top_p": 0.0}, "top_p", "must be more than 0 (1 keeps every token), got 0"),
]


@pytest.mark.parametrize(("options", "option", "problem"), BAD_SEARCH_OPTIONS)
def test_search_options_refuse_values_that_would_give_empty_or_run_on_output(options, option,
                                                                            problem):
    with pytest.raises(SearchOptionError) as raised:
        SearchOptions(**options)
    assert (raised.value.option, raised.value.problem) == (option, problem)
    assert str(raised.value) == f"{option} {problem}"


def test_search_options_at_their_limits_are_accepted():
    SearchOptions(beam_size=1, nbest=1, alpha=0.0, max_len_a=0, max_len_b=1, min_length=1)
    SearchOptions(max_len_a=1.0, max_len_b=0, min_length=1)
    assert SearchOptions(max_len_a=1.5, max_len_b=10, min_length=11).min_length == 11


def reference_beam_search(model, src: list[int], beams: int, alpha: float, max_len: int,
                          min_length: int, ban_unk: bool, exact_stop: bool):
    """One sentence, written plainly: every live beam's every extension is a candidate."""
    src_t, lengths = _at_least_one_column(*sources(src))
    encoded = model.encode(src_t, lengths)
    live = [([], 0.0, model.initial_hidden(encoded))]  # (tokens, log p, hidden)
    finished: list[tuple[float, list[int], float]] = []  # (score, tokens, log p), best first
    for step in range(max_len + 1):
        candidates = []
        for tokens, log_prob, hidden in live:
            prev = torch.tensor([tokens[-1] if tokens else BOS_ID])
            logits, new_hidden, _ = model.decode_step(prev, hidden, encoded)
            log_probs = torch.log_softmax(logits[0], dim=-1)
            allowed = log_probs.clone()
            allowed[[PAD_ID, BOS_ID, UNK_ID] if ban_unk else [PAD_ID, BOS_ID]] = -math.inf
            if step < min_length:
                allowed[EOS_ID] = -math.inf
            if step >= max_len:
                allowed[:] = -math.inf
                allowed[EOS_ID] = log_probs[EOS_ID]
            candidates += [(log_prob + float(allowed[token]), tokens, token, new_hidden)
                           for token in range(len(allowed)) if allowed[token] > -math.inf]
        candidates.sort(key=lambda c: -c[0])
        for value, tokens, token, _ in candidates[:beams]:
            if token == EOS_ID:
                finished.append((value / (len(tokens) + 1) ** alpha, tokens, value))
        finished = sorted(finished, key=lambda f: -f[0])[:beams]
        live = [(tokens + [token], value, hidden)
                for value, tokens, token, hidden in candidates if token != EOS_ID][:beams]
        if not live:
            break
        if len(finished) == beams:
            bound = max(value for _, value, _ in live) / (max_len + 1) ** alpha
            if not exact_stop or bound <= finished[-1][0]:
                break
    return finished


@pytest.mark.parametrize(("beams", "vocab"), [(2, 12), (3, 12), (5, 12), (5, 2000)])
@pytest.mark.parametrize("exact_stop", [False, True])
@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_beam_search_equals_a_plain_reference(beams, vocab, exact_stop, attention):
    """Batched search with each beam's K+1 best tokens = all K·V candidates, one at a time.

    A 2000-token vocabulary runs the search end to end through the CPU's chunked top-k
    (12 tokens: plain ``topk``); the chunking itself is tested on its own below.
    """
    model = tiny_model(attention, tgt_vocab_size=vocab, seed=beams, sharpness=1.5)
    for alpha, min_length, ban_unk in ((1.0, 0, False), (0.0, 2, True)):
        found = beam_search(model, *sources(*SOURCES), beam_size=beams, nbest=beams, alpha=alpha,
                            max_len_a=1.0, max_len_b=2, min_length=min_length, ban_unk=ban_unk,
                            exact_stop=exact_stop)
        for src, hypotheses in zip(SOURCES, found):
            max_len = int(1.0 * len(src) + 2)
            expected = reference_beam_search(model, src, beams, alpha, max_len, min_length,
                                             ban_unk, exact_stop)
            assert [h.tokens for h in hypotheses] == [tokens for _, tokens, _ in expected]
            assert [h.score for h in hypotheses] == pytest.approx([s for s, _, _ in expected])
            assert all(len(h.tokens) <= max_len and EOS_ID not in h.tokens for h in hypotheses)


def test_rows_at_their_length_limit_offer_only_eos():
    """Row 0 is at its limit: only EOS, even before min_length. Row 1 is not: EOS is banned."""
    logits = torch.tensor([[0.0, 0.0, 0.0, 2.0, 3.0, 1.0], [0.0, 0.0, 0.0, 2.0, 3.0, 1.0]])
    log_probs = torch.log_softmax(logits, dim=-1)
    allowed = _allowed_log_probs(log_probs, step=4, min_length=9, ban_unk=False,
                                 max_lengths=torch.tensor([4, 5]))
    assert allowed[0, EOS_ID] == log_probs[0, EOS_ID]
    assert (allowed[0] == -math.inf).sum() == allowed.shape[1] - 1
    assert allowed[1].topk(3).indices.tolist() == [4, 5, UNK_ID]
    assert allowed[1, EOS_ID] == -math.inf


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_logits_are_scored_in_float32(dtype):
    """A model run in half precision (``--dtype``) still gets float32 log probabilities."""
    torch.manual_seed(0)
    logits = (torch.randn(3, 500) * 4).to(dtype)
    log_probs = log_softmax(logits)
    assert log_probs.dtype == torch.float32
    assert torch.equal(log_probs, torch.log_softmax(logits.float(), dim=-1))


@pytest.mark.parametrize("width", [64 * 24, 8000, 64 * 30 + 37, 100])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_row_topk_returns_topk_values_and_their_ids(width, dtype):
    """Chunked (CPU, wide rows) or plain: the same values as topk, ids pointing at them."""
    torch.manual_seed(width)
    k = 6
    scores = torch.randn(7, width, dtype=dtype)
    scores[0, :: 3] = -math.inf  # banned tokens
    scores[1] = -math.inf  # a row at its length limit: one allowed token, in the tail if any
    scores[1, width - 1] = -2.0
    scores[2, 10:40] = 5.0  # ties across the best chunk
    scores[3] = scores[3].round(decimals=0)  # many ties
    scores[4, width - 5:] = 9.0  # the best values only in the last columns
    values, ids = _row_topk(scores, k)
    expected = scores.topk(k, dim=-1).values
    assert torch.equal(values, expected)
    assert torch.equal(scores.gather(1, ids), values)
    finite = values > -math.inf
    for row in range(scores.shape[0]):  # finite ids are distinct
        assert len(set(ids[row][finite[row]].tolist())) == int(finite[row].sum())
