"""Greedy search, beam search, sampling and forced decoding.

Everything runs batched on the model's device: B sentences (× K beams) are one batch of
rows, and the only Python loop is over time steps. Sentences that are done leave the
batch, so a long sentence does not keep short ones computing. The search only calls a
:class:`~seq2seq.steps.StepDecoder` (a :class:`~seq2seq.model.Seq2Seq` is wrapped as one),
so one search serves a model with or without attention, an ensemble and an exported graph.
Call it with the model in eval mode.

Scores. ``Hypothesis.log_prob`` is the model's log probability of the tokens and the
final EOS, log p(y_1 … y_n EOS | x), exactly what :func:`force_decode` returns for the
same tokens: banning a token (PAD and BOS always, UNK with ``ban_unk``, EOS before
``min_length``) removes it from the search but never renormalises the others.
``Hypothesis.score`` is length-normalised::

    score = log_prob / (len(tokens) + 1) ** alpha        (the + 1 counts EOS)

``alpha=0`` ranks by raw log probability, ``alpha=1`` by log probability per token.

Lengths. A sentence of n source tokens gets at most ``int(max_len_a * n + max_len_b)``
target tokens (EOS not counted); a hypothesis that reaches that length is ended with
EOS, whose log probability it pays. EOS is banned while a hypothesis has fewer than
``min_length`` tokens (the maximum length wins if they conflict).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from seq2seq.batching import pad_sequences
from seq2seq.model import Seq2Seq
from seq2seq.steps import StepDecoder, as_step_decoder
from seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

NEG_INF = float("-inf")
MAX_LEN_A, MAX_LEN_B = 1000.0, 1e6  # far past any real output, far from int64's limit
# Far past any useful length penalty (0.6-2 in practice); (n + 1) ** alpha of a length up
# to MAX_LEN_B stays a finite float64 (a larger alpha overflowed: OverflowError).
MAX_ALPHA = 10.0
MAX_ROWS = 1000  # beams or samples per sentence: each is a decoder row held in memory
MAX_SEED = 2**64 - 1  # what torch.Generator.manual_seed takes


class SearchOptionError(ValueError):
    """A search option out of its range; ``option`` is the :class:`SearchOptions` field."""

    def __init__(self, option: str, problem: str):
        super().__init__(f"{option} {problem}")
        self.option, self.problem = option, problem


@dataclass(frozen=True)
class SearchOptions:
    """How to decode, checked once here for every caller (search, Translator, commands).

    beam_size: beams per sentence; 1 is greedy search; at most 1,000.
    nbest: hypotheses returned per sentence, from 1 to ``beam_size`` (to 1,000 samples).
    alpha: length normalisation (see the module docstring), from 0 to 10.
    max_len_a, max_len_b: at most ``int(a * source tokens + b)`` target tokens; >= 0, at
        most 1,000 and 1,000,000, and a one-token source may get a token (``int(a + b) >= 1``).
    min_length: target tokens before EOS is allowed, at most ``int(a + b)`` (what a
        one-token source may get), so that no sentence is forced to its maximum length.
    ban_unk: never output <unk>.
    exact_stop: beam search's exact stopping rule (see :func:`beam_search`).
    sampling: draw ``nbest`` samples per sentence instead of searching (:func:`sample_search`;
        ``beam_size`` is then not used).
    temperature: sampling temperature, finite and >= 0; 0 takes the most probable token.
    top_k: sample among the k most probable tokens only; 0 for all.
    top_p: sample among the most probable tokens whose probability reaches p, in (0, 1].
    seed: the sampling's random seed (an integer from 0 to 2**64 - 1); None for a fresh one
        each time.
    """

    beam_size: int = 5
    nbest: int = 1
    alpha: float = 1.0
    max_len_a: float = 1.5
    max_len_b: float = 10
    min_length: int = 0
    ban_unk: bool = False
    exact_stop: bool = False
    sampling: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_integer("beam_size", self.beam_size, 1, MAX_ROWS)
        _check_integer("nbest", self.nbest, 1, MAX_ROWS)
        if self.nbest > self.beam_size and not self.sampling:
            raise SearchOptionError("nbest", f"must be at most beam_size ({self.beam_size}), "
                                             f"got {self.nbest}")
        for name, upper in (("alpha", MAX_ALPHA), ("max_len_a", MAX_LEN_A), ("max_len_b", MAX_LEN_B)):
            _check_real(name, getattr(self, name), upper)
        longest_for_one_token = math.floor(self.max_len_a + self.max_len_b)
        if longest_for_one_token < 1:
            raise SearchOptionError(
                "max_len_b", f"and max_len_a allow a one-token source no output: int(a + b) = "
                             f"{longest_for_one_token} (got a={self.max_len_a}, "
                             f"b={self.max_len_b}); need at least 1")
        _check_integer("min_length", self.min_length, 0)
        if self.min_length > longest_for_one_token:
            raise SearchOptionError(
                "min_length", f"must be at most {longest_for_one_token}, the output length "
                              f"max_len_a and max_len_b allow a one-token source (got "
                              f"{self.min_length}); raise max_len_b to allow more")
        for name in ("ban_unk", "exact_stop", "sampling"):
            if not isinstance(getattr(self, name), bool):
                raise SearchOptionError(name, f"must be true or false, got {getattr(self, name)!r}")
        _check_real("temperature", self.temperature, math.inf)
        _check_integer("top_k", self.top_k, 0)
        _check_real("top_p", self.top_p, 1.0)
        if self.top_p == 0:
            raise SearchOptionError("top_p", "must be more than 0 (1 keeps every token), got 0")
        if self.seed is not None:
            _check_integer("seed", self.seed, 0, MAX_SEED)

    @property
    def rows_per_sentence(self) -> int:
        """Decoder rows a sentence takes: its beams, or its samples."""
        return self.nbest if self.sampling else self.beam_size

    @classmethod
    def of(cls, search: SearchOptions | None = None, **options) -> SearchOptions:
        """``search`` (or the defaults) with ``options``, its fields, replaced; checked."""
        return dataclasses.replace(search or cls(), **options)


def _check_integer(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SearchOptionError(name, f"must be an integer, got {value!r}")
    if value < minimum:
        raise SearchOptionError(name, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SearchOptionError(name, f"must be at most {maximum}, got {value}")


def _check_real(name: str, value: object, upper: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SearchOptionError(name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise SearchOptionError(name, f"must be finite and >= 0, got {value}")
    if value > upper:  # lengths past these would overflow the search's integer arithmetic
        raise SearchOptionError(name, f"must be at most {upper:g}, got {value:g}")


@dataclass
class Hypothesis:
    """One output: tokens without BOS/EOS, log p(tokens + EOS | source), normalised score, and
    with ``alignments=True`` the attention weights (len(tokens) + 1, source length), one row
    per output token and one for EOS."""

    tokens: list[int]
    log_prob: float
    score: float
    alignment: Tensor | None = None


@torch.no_grad()
def greedy_search(model: Seq2Seq | StepDecoder, src: Tensor, src_lengths: Tensor,
                  search: SearchOptions | None = None, *, alignments: bool = False,
                  **options) -> list[Hypothesis]:
    """The most probable next token at every step, for each sentence of the batch.

    Args:
        model: a :class:`Seq2Seq` or any :class:`~seq2seq.steps.StepDecoder`.
        src: (B, S) source ids, right-padded.  src_lengths: (B,).
        search, options: :meth:`SearchOptions.of` (``beam_size``, ``nbest`` and
            ``exact_stop`` are not used; ``alpha`` only sets :attr:`Hypothesis.score`).
        alignments: also return each hypothesis's attention weights (attention models).

    Returns:
        B hypotheses, in the order of the batch.
    """
    search = SearchOptions.of(search, **options)
    return _one_token_a_step(as_step_decoder(model), src, src_lengths, search, alignments,
                             lambda allowed: _row_topk(allowed, 1)[1].squeeze(1))


@torch.no_grad()
def sample_search(model: Seq2Seq | StepDecoder, src: Tensor, src_lengths: Tensor,
                  search: SearchOptions | None = None, *, alignments: bool = False,
                  generator: torch.Generator | None = None, **options) -> list[list[Hypothesis]]:
    """``nbest`` samples per sentence: each token drawn from the model's distribution.

    The distribution is the allowed tokens' (see the module docstring) at ``temperature``,
    cut to the ``top_k`` most probable and then to the smallest set whose probability
    reaches ``top_p``; temperature 0 takes the most probable token (greedy search).
    :attr:`Hypothesis.log_prob` stays the model's own log probability of the sample (what
    :func:`force_decode` gives), whatever the temperature or cut.

    Args:
        generator: the random numbers (on the model's device); the same generator state,
            input and options give the same samples.

    Returns:
        Per sentence, ``nbest`` samples, best score first (the same output may repeat).
    """
    search = SearchOptions.of(search, **options)
    copies = search.nbest
    src, src_lengths = src.repeat_interleave(copies, 0), src_lengths.repeat_interleave(copies, 0)
    if search.temperature == 0:
        def choose(allowed: Tensor) -> Tensor:
            return _row_topk(allowed, 1)[1].squeeze(1)
    else:
        def choose(allowed: Tensor) -> Tensor:
            weights = _filtered_probabilities(allowed, search.temperature, search.top_k,
                                              search.top_p)
            return torch.multinomial(weights, 1, generator=generator).squeeze(1)
    found = _one_token_a_step(as_step_decoder(model), src, src_lengths, search, alignments,
                              choose)
    return [sorted(found[first:first + copies], key=lambda h: -h.score)
            for first in range(0, len(found), copies)]


def _filtered_probabilities(allowed: Tensor, temperature: float, top_k: int,
                            top_p: float) -> Tensor:
    """allowed (N, V) log probabilities, -inf for banned tokens -> (N, V) the probabilities to
    sample from, 0 outside the cut. In float64, from the row's best token down, so that any
    temperature > 0 and any top_p > 0 leave the best token a positive probability."""
    allowed = allowed.double()
    scaled = (allowed - allowed.amax(dim=1, keepdim=True)) / temperature
    if 0 < top_k < scaled.shape[1]:
        kth = scaled.topk(top_k, dim=1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, NEG_INF)
    probabilities = torch.softmax(scaled, dim=1)
    if top_p < 1.0:
        sorted_probs, order = probabilities.sort(dim=1, descending=True)
        before = sorted_probs.cumsum(dim=1) - sorted_probs  # mass of the tokens ranked above
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)  # the first always stays
        probabilities = torch.zeros_like(probabilities).scatter(1, order, sorted_probs)
        probabilities = probabilities / probabilities.sum(dim=1, keepdim=True)
    return probabilities


def _one_token_a_step(decoder: StepDecoder, src: Tensor, src_lengths: Tensor,
                      search: SearchOptions, alignments: bool, choose) -> list[Hypothesis]:
    """Greedy search or sampling: ``choose`` maps the allowed log probabilities (N, V) of the
    live rows to their next tokens (N,). Returns B hypotheses in batch order."""
    check_alignments(decoder, alignments)
    src, src_lengths = _at_least_one_column(src, src_lengths)
    batch, device = src.shape[0], src.device
    max_lengths = _max_lengths(src_lengths, search.max_len_a, search.max_len_b)  # (B,)
    shortest, limit = int(max_lengths.min()), int(max_lengths.max())
    state = decoder.start(src, src_lengths)

    tokens = torch.full((batch, limit), PAD_ID, dtype=torch.long, device=device)
    attention = (torch.zeros(batch, limit + 1, src.shape[1], device=device)
                 if alignments else None)
    log_probs_sum = torch.zeros(batch, dtype=torch.float64, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    alive = torch.arange(batch, device=device)  # batch index of each row still decoding
    prev_tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    for step in range(limit + 1):
        output = decoder.step(prev_tokens, state)
        state = output.state
        allowed = _allowed_log_probs(output.log_probs, step, max_lengths[alive]
                                     if step >= shortest else None, search.min_length,
                                     search.ban_unk)
        best = choose(allowed)  # (N,)
        log_probs_sum.index_add_(0, alive, allowed.gather(1, best.unsqueeze(1)).squeeze(1)
                                 .to(torch.float64))
        if attention is not None:
            attention[alive, step] = output.attention.float()
        ended = best == EOS_ID
        if step < limit:
            tokens[alive, step] = best.masked_fill(ended, PAD_ID)
        lengths[alive] = step
        if not ended.any():
            prev_tokens = best
            continue
        kept = (~ended).nonzero().squeeze(1)
        if kept.numel() == 0:
            break
        alive, prev_tokens = alive[kept], best[kept]
        state = state.index_select(kept)

    hypotheses = [
        _hypothesis(row[:length], log_prob, search.alpha)
        for row, length, log_prob in zip(tokens.tolist(), lengths.tolist(), log_probs_sum.tolist())
    ]
    if attention is not None:
        for hypothesis, weights, length in zip(hypotheses, attention, src_lengths.tolist()):
            hypothesis.alignment = weights[:len(hypothesis.tokens) + 1, :length].cpu()
    return hypotheses


@torch.no_grad()
def beam_search(model: Seq2Seq | StepDecoder, src: Tensor, src_lengths: Tensor,
                search: SearchOptions | None = None, *, alignments: bool = False,
                **options) -> list[list[Hypothesis]]:
    """Beam search with K = ``beam_size`` beams per sentence.

    Each step extends every live beam by every allowed token and ranks the candidates by
    log probability. Candidates ending in EOS among the K best become finished
    hypotheses; the K best others are the next beams. Each sentence keeps its K best
    finished hypotheses by score; a finished hypothesis is never extended and its score
    never changes. With ``beam_size=1`` and ``alpha=0`` this is greedy search.

    Stopping rule. By default (as fairseq does) a sentence is done as soon as it has K
    finished hypotheses: a live beam could still finish with a better normalised score,
    but rarely does, and waiting for that to become impossible costs 30% more decoder work
    on Multi30k with ``alpha=1`` for a BLEU difference under 0.1 (docs/BENCHMARKS.md).

    With ``exact_stop=True`` (exact for any ``alpha >= 0``): a sentence is done when it has K
    finished hypotheses and no live beam can still beat the worst of them. Log
    probabilities only fall as a beam grows and no hypothesis is longer than the
    maximum length n_max, so a beam with log probability p can at best finish with
    score ``p / (n_max + 1) ** alpha``; the sentence is done when that bound for its best
    beam is at most the score of its K-th finished hypothesis. For ``alpha=0`` this is:
    the best beam's log probability is at most the worst kept finished one. A sentence
    is also done when it has no live beam left (at the maximum length at the latest).

    Args:
        model: a :class:`Seq2Seq` or any :class:`~seq2seq.steps.StepDecoder`.
        src: (B, S) source ids, right-padded.  src_lengths: (B,).
        search, options: :meth:`SearchOptions.of`; ``nbest`` hypotheses are returned per
            sentence, ``exact_stop`` is the exact stopping rule above.
        alignments: also return each hypothesis's attention weights (attention models).

    Returns:
        Per sentence, its ``nbest`` best finished hypotheses, best score first (fewer
        if fewer distinct outputs exist).
    """
    search = SearchOptions.of(search, **options)
    decoder = as_step_decoder(model)
    check_alignments(decoder, alignments)
    beam_size, nbest, alpha = search.beam_size, search.nbest, search.alpha
    max_len_a, max_len_b, min_length = search.max_len_a, search.max_len_b, search.min_length
    ban_unk, exact_stop = search.ban_unk, search.exact_stop
    src, src_lengths = _at_least_one_column(src, src_lengths)
    batch, device, beams = src.shape[0], src.device, beam_size
    max_lengths = _max_lengths(src_lengths, max_len_a, max_len_b)  # (B,)
    shortest, limit = int(max_lengths.min()), int(max_lengths.max())
    state = decoder.start(src, src_lengths)

    source_width = src.shape[1] if alignments else None
    finished = _FinishedHypotheses(batch, beams, limit, alpha, device, source_width)
    alive = torch.arange(batch, device=device)  # batch index of each sentence still searched
    prefixes = torch.empty(batch, beams, 0, dtype=torch.long, device=device)  # (N, K, t)
    # (N, K, t, S) each beam's attention rows so far, with alignments
    attention_prefixes = torch.empty(batch, beams, 0, src.shape[1], device=device)
    beam_log_probs = torch.full((batch, beams), NEG_INF, device=device)  # (N, K) log p so far
    beam_log_probs[:, 0] = 0.0  # all K rows start as the same BOS: keep one
    prev_tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    for step in range(limit + 1):
        output = decoder.step(prev_tokens, state)  # (N·K, V)
        log_probs, state, attention = output.log_probs, output.state, output.attention
        if step == 0:  # the K beams of a sentence are one BOS prefix: decoded once, now copied
            rows = torch.arange(batch, device=device).repeat_interleave(beams)  # (B·K,)
            log_probs, state = log_probs.index_select(0, rows), state.index_select(rows)
            if alignments:
                attention = attention.index_select(0, rows)
        sentences, per_row = alive.numel(), min(beams + 1, log_probs.shape[-1])
        row_max_lengths = max_lengths[alive].repeat_interleave(beams) if step >= shortest else None
        # Each beam's K + 1 best extensions hold all it can add to the K best candidates and
        # to the K best not ending in EOS (a beam has one EOS extension): all that is used.
        row_log_probs, row_tokens = _row_topk(
            _allowed_log_probs(log_probs, step, row_max_lengths, min_length, ban_unk),
            per_row)  # (N·K, K+1)
        candidates = beam_log_probs.unsqueeze(2) + row_log_probs.view(sentences, beams, per_row)
        top_log_probs, top_index = candidates.view(sentences, -1).topk(
            min(2 * beams, beams * per_row), dim=1)  # (N, 2K), best first
        origin = top_index // per_row
        token = row_tokens.view(sentences, beams * per_row).gather(1, top_index)
        ends = token == EOS_ID
        if alignments:  # each beam's rows so far and this step's row
            attention_prefixes = torch.cat(
                [attention_prefixes, attention.float().view(sentences, beams, 1, -1)], dim=2)

        # At most K candidates end in EOS (one per beam), so 2K hold K others.
        newly_finished = ends[:, :beams] & (top_log_probs[:, :beams] > NEG_INF)
        if newly_finished.any():
            finished.add(alive, _gather_beams(prefixes, origin[:, :beams]),
                         top_log_probs[:, :beams].masked_fill(~newly_finished, NEG_INF), step,
                         _gather_beams(attention_prefixes, origin[:, :beams])
                         if alignments else None)
        continuing = torch.sort(ends.to(torch.uint8), dim=1, stable=True).indices[:, :beams]
        origin, token = origin.gather(1, continuing), token.gather(1, continuing)
        beam_log_probs = top_log_probs.gather(1, continuing)  # (N, K)
        prefixes = torch.cat([_gather_beams(prefixes, origin), token.unsqueeze(2)], dim=2)
        if alignments:
            attention_prefixes = _gather_beams(attention_prefixes, origin)
        beam_rows = (torch.arange(sentences, device=device).unsqueeze(1) * beams + origin).view(-1)
        state, prev_tokens = state.reorder_hidden(beam_rows), token.view(-1)

        done = finished.is_done(alive, beam_log_probs, max_lengths[alive], exact_stop)  # (N,)
        if done.all():
            break
        if done.any():
            kept = (~done).nonzero().squeeze(1)
            kept_rows = (kept.unsqueeze(1) * beams + torch.arange(beams, device=device)).view(-1)
            alive, prefixes, beam_log_probs = alive[kept], prefixes[kept], beam_log_probs[kept]
            attention_prefixes = attention_prefixes[kept]
            state, prev_tokens = state.index_select(kept_rows), prev_tokens[kept_rows]
    return finished.best(nbest, src_lengths.tolist())


@torch.no_grad()
def force_decode(model: Seq2Seq | StepDecoder, src: Tensor, src_lengths: Tensor,
                 tgt_ids: list[list[int]]) -> list[tuple[float, int]]:
    """Score given targets by teacher forcing, one batched pass of the model.

    Args:
        model: a :class:`Seq2Seq` or any :class:`~seq2seq.steps.StepDecoder`.
        src: (B, S) source ids, right-padded.  src_lengths: (B,).
        tgt_ids: B target id lists, without BOS/EOS.

    Returns:
        Per sentence, (log p(target + EOS | source), number of scored tokens, EOS included).
    """
    src, src_lengths = _at_least_one_column(src, src_lengths)
    tgt_in, _ = pad_sequences([[BOS_ID, *ids] for ids in tgt_ids], pad_id=PAD_ID)
    tgt_out, tgt_lengths = pad_sequences([[*ids, EOS_ID] for ids in tgt_ids], pad_id=PAD_ID)
    log_probs = as_step_decoder(model).forced_log_probs(src, src_lengths,
                                                        tgt_in.to(src.device))  # (B, T, V)
    tgt_out, tgt_lengths = tgt_out.to(src.device), tgt_lengths.to(src.device)
    token_log_probs = log_probs.gather(2, tgt_out.unsqueeze(2)).squeeze(2)  # (B, T)
    real = torch.arange(tgt_out.shape[1], device=src.device) < tgt_lengths.unsqueeze(1)
    totals = token_log_probs.masked_fill(~real, 0.0).to(torch.float64).sum(dim=1)
    return list(zip(totals.tolist(), tgt_lengths.tolist()))


def check_alignments(decoder: StepDecoder, alignments: bool) -> None:
    """ValueError if ``alignments`` are asked of a model without attention."""
    if alignments and not decoder.has_attention:
        raise ValueError("alignments need a model with attention; this model has none "
                         "(its decoder reads one fixed summary of the source)")


def length_normalised(log_prob: float, num_tokens: int, alpha: float) -> float:
    """``log_prob / (num_tokens + 1) ** alpha``, num_tokens without EOS."""
    return log_prob / (num_tokens + 1) ** alpha


class _FinishedHypotheses:
    """The K best finished hypotheses of each of B sentences, kept sorted by score.

    tokens (B, K, limit), lengths (B, K), log_probs (B, K), scores (B, K); an empty slot
    has score -inf.
    """

    def __init__(self, batch: int, beams: int, limit: int, alpha: float, device: torch.device,
                 source_width: int | None = None):
        self.beams, self.alpha = beams, alpha
        self.tokens = torch.full((batch, beams, limit), PAD_ID, dtype=torch.long, device=device)
        self.lengths = torch.zeros(batch, beams, dtype=torch.long, device=device)
        self.log_probs = torch.full((batch, beams), NEG_INF, dtype=torch.float64, device=device)
        self.scores = torch.full((batch, beams), NEG_INF, dtype=torch.float64, device=device)
        # (B, K, limit + 1, S) attention rows, kept when alignments are asked for
        self.attention = (None if source_width is None else
                          torch.zeros(batch, beams, limit + 1, source_width, device=device))

    def add(self, sentences: Tensor, prefixes: Tensor, log_probs: Tensor, length: int,
            attention: Tensor | None = None) -> None:
        """Offer hypotheses of ``length`` tokens: sentences (N,), prefixes (N, C, length),
        log_probs (N, C) with -inf for no hypothesis, attention (N, C, length + 1, S) with
        alignments."""
        log_probs = log_probs.to(torch.float64)
        scores = log_probs / (length + 1) ** self.alpha
        padded = F.pad(prefixes, (0, self.tokens.shape[2] - length), value=PAD_ID)
        all_scores = torch.cat([self.scores[sentences], scores], dim=1)
        # Stable: among equal scores the earlier (shorter) hypothesis stays first.
        order = torch.sort(all_scores, dim=1, descending=True, stable=True).indices[:, :self.beams]

        def merge(kept: Tensor, offered: Tensor) -> Tensor:
            both = torch.cat([kept[sentences], offered], dim=1)
            index = order.view(*order.shape, *([1] * (both.dim() - 2))).expand(-1, -1, *both.shape[2:])
            return both.gather(1, index)

        self.tokens[sentences] = merge(self.tokens, padded)
        self.lengths[sentences] = merge(self.lengths, torch.full_like(log_probs, length, dtype=torch.long))
        self.log_probs[sentences] = merge(self.log_probs, log_probs)
        self.scores[sentences] = all_scores.gather(1, order)
        if self.attention is not None:
            rows = F.pad(attention, (0, 0, 0, self.attention.shape[2] - length - 1))
            self.attention[sentences] = merge(self.attention, rows)

    def is_done(self, sentences: Tensor, beam_log_probs: Tensor, max_lengths: Tensor,
                exact: bool) -> Tensor:
        """(N,) whether a sentence has K finished hypotheses (and, if ``exact``, no live beam
        (beam_log_probs (N, K)) can still enter the K best), or no live beam at all."""
        best_live = beam_log_probs.max(dim=1).values
        worst_kept = self.scores[sentences, -1]
        full = worst_kept > NEG_INF
        if exact:
            bound = best_live / (max_lengths.to(torch.float64) + 1) ** self.alpha
            full = full & (bound <= worst_kept)
        return (best_live == NEG_INF) | full

    def best(self, nbest: int, src_lengths: list[int]) -> list[list[Hypothesis]]:
        """Per sentence its ``nbest`` best; alignments cut to the source's length."""
        tokens, lengths = self.tokens[:, :nbest].tolist(), self.lengths[:, :nbest].tolist()
        log_probs, scores = self.log_probs[:, :nbest].tolist(), self.scores[:, :nbest].tolist()
        found = [
            [Hypothesis(row[:length], log_prob, score)
             for row, length, log_prob, score in zip(*sentence) if score > NEG_INF]
            for sentence in zip(tokens, lengths, log_probs, scores)
        ]
        if self.attention is not None:
            attention = self.attention.cpu()
            for sentence, hypotheses in enumerate(found):
                for rank, hypothesis in enumerate(hypotheses):
                    hypothesis.alignment = attention[sentence, rank, :len(hypothesis.tokens) + 1,
                                                     :src_lengths[sentence]]
        return found


def _gather_beams(prefixes: Tensor, origin: Tensor) -> Tensor:
    """prefixes (N, K, ...), origin (N, C) beam indices -> (N, C, ...)."""
    index = origin.view(*origin.shape, *([1] * (prefixes.dim() - 2)))
    return prefixes.gather(1, index.expand(-1, -1, *prefixes.shape[2:]))


def _allowed_log_probs(log_probs: Tensor, step: int, max_lengths: Tensor | None,
                       min_length: int, ban_unk: bool) -> Tensor:
    """The log probabilities of token ``step + 1`` with banned tokens at -inf.

    log_probs (N, V), masked in place and returned (a step's log probabilities belong to
    the search: no copy of N × V per step). Banned tokens are removed, never renormalised
    over: log p stays the model's. max_lengths (N,): rows that already hold that many
    tokens may only end (EOS); None when no row is that long yet.
    """
    allowed = log_probs
    # The model's own EOS column, for rows at their limit (kept before any masking).
    eos = allowed[:, EOS_ID].clone() if max_lengths is not None else None
    allowed[:, [PAD_ID, BOS_ID, UNK_ID] if ban_unk else [PAD_ID, BOS_ID]] = NEG_INF
    if step < min_length:
        allowed[:, EOS_ID] = NEG_INF
    if max_lengths is not None:
        at_limit = step >= max_lengths  # (N,)
        if at_limit.any():
            allowed[at_limit] = NEG_INF
            allowed[:, EOS_ID] = torch.where(at_limit, eos, allowed[:, EOS_ID])
    return allowed


_TOPK_CHUNK = 64


def _row_topk(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``scores.topk(k, dim=-1)`` for scores (N, V): values (N, k), best first, and ids (N, k).

    On the CPU ``topk`` over a wide vocabulary costs as much as the log-softmax before it.
    Cheaper, for the same values: split each row into chunks of 64 columns; the k best
    values lie in the k chunks with the highest maxima (plus the tail that fills no whole
    chunk), so rank only those k·64 columns. Among equal values the ids returned may differ
    from ``topk``'s, which leaves ties unordered too.
    """
    rows, width = scores.shape
    chunks = width // _TOPK_CHUNK
    if scores.device.type != "cpu" or chunks < 4 * k:
        return scores.topk(k, dim=-1)
    whole = chunks * _TOPK_CHUNK
    chunk_max = scores[:, :whole].view(rows, chunks, _TOPK_CHUNK).amax(dim=2)  # (N, chunks)
    best_chunks = chunk_max.topk(k, dim=1).indices  # (N, k)
    offsets = torch.arange(_TOPK_CHUNK, device=scores.device)
    columns = (best_chunks.unsqueeze(2) * _TOPK_CHUNK + offsets).view(rows, k * _TOPK_CHUNK)
    if whole < width:
        tail = torch.arange(whole, width, device=scores.device).expand(rows, -1)
        columns = torch.cat([columns, tail], dim=1)
    values, picked = scores.gather(1, columns).topk(k, dim=1)
    return values, columns.gather(1, picked)


def _max_lengths(src_lengths: Tensor, max_len_a: float, max_len_b: float) -> Tensor:
    """(B,) ``int(max_len_a * src_len + max_len_b)`` target tokens, at least 0."""
    lengths = torch.floor(max_len_a * src_lengths.to(torch.float64) + max_len_b)
    return lengths.long().clamp(min=0)


def _at_least_one_column(src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
    """A batch of empty sources is one PAD column wide, so the encoder has a step to run."""
    src_lengths = src_lengths.to(src.device)
    if src.shape[1] == 0:
        src = src.new_full((src.shape[0], 1), PAD_ID)
    return src, src_lengths


def _hypothesis(tokens: list[int], log_prob: float, alpha: float) -> Hypothesis:
    return Hypothesis(tokens, log_prob, length_normalised(log_prob, len(tokens), alpha))
