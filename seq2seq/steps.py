"""What search needs of a translation model: encode once, then score next tokens step by step.

Greedy search, beam search, sampling and forced decoding (:mod:`seq2seq.search`) call only
this interface, so the same search runs on one :class:`~seq2seq.model.Seq2Seq`
(:class:`ModelSteps`), an ensemble (:class:`seq2seq.ensemble.Ensemble`) or an exported
graph (:mod:`seq2seq.export.onnx_backend`). Every implementation returns normalised log
probabilities in float32 (or wider), whatever the precision of its arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from seq2seq.model import EncoderState, Seq2Seq


class DecoderState(Protocol):
    """The search's state of N rows (sentences, or sentences × beams)."""

    def index_select(self, rows: Tensor) -> DecoderState:
        """Rows (M,) of this state, repeated or dropped: everything, the source's part too."""

    def reorder_hidden(self, rows: Tensor) -> DecoderState:
        """Rows (N,) of the recurrent part only. ``rows[i]`` must belong to the same sentence
        as row ``i`` (beams trading places), so the source's part need not move."""


@dataclass(frozen=True)
class Step:
    """One decoding step of N rows.

    log_probs: (N, V) log p(y_t | y_<t, x), float32 or wider, normalised over V; a tensor
        of its own, which the search may change in place.
    state: the state after y_t's step.
    attention: (N, S) the weights over source positions (rows sum to 1 over real
        positions), or None for a model without attention.
    """

    log_probs: Tensor
    state: DecoderState
    attention: Tensor | None


@runtime_checkable
class StepDecoder(Protocol):
    """A model as search sees it. ``has_attention``: whether steps return attention weights."""

    has_attention: bool

    def start(self, src: Tensor, src_lengths: Tensor) -> DecoderState:
        """Encode src (B, S) ids, right-padded, src_lengths (B,): the state before BOS."""

    def step(self, prev_tokens: Tensor, state: DecoderState) -> Step:
        """Score the next token of N rows, given prev_tokens (N,) (BOS at the first step)."""

    def forced_log_probs(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: tgt_in (B, T) BOS + target, padded -> (B, T, V) log probabilities."""


def score_dtype(logits: Tensor) -> torch.dtype:
    """float32 for half-precision logits, else the logits' own dtype."""
    return torch.promote_types(logits.dtype, torch.float32)


def log_softmax(logits: Tensor) -> Tensor:
    """Log probabilities in at least float32 from logits (..., V) of any precision."""
    return F.log_softmax(logits.to(score_dtype(logits)), dim=-1)


@dataclass(frozen=True)
class ModelState:
    """A :class:`Seq2Seq`'s search state: its encoded source and decoder hidden (L, N, H)."""

    encoded: EncoderState
    hidden: Tensor

    def index_select(self, rows: Tensor) -> ModelState:
        return ModelState(self.encoded.index_select(rows), self.hidden.index_select(1, rows))

    def reorder_hidden(self, rows: Tensor) -> ModelState:
        return ModelState(self.encoded, self.hidden.index_select(1, rows))


class ModelSteps:
    """One :class:`Seq2Seq` as a :class:`StepDecoder`; call it with the model in eval mode."""

    def __init__(self, model: Seq2Seq):
        self.model = model
        self.has_attention = model.attention is not None

    def start(self, src: Tensor, src_lengths: Tensor) -> ModelState:
        encoded = self.model.encode(src, src_lengths)
        return ModelState(encoded, self.model.initial_hidden(encoded))

    def step(self, prev_tokens: Tensor, state: ModelState) -> Step:
        logits, hidden, attention = self.model.decode_step(prev_tokens, state.hidden, state.encoded)
        return Step(log_softmax(logits), ModelState(state.encoded, hidden), attention)

    def forced_log_probs(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        logits, _ = self.model(src, src_lengths, tgt_in)
        return log_softmax(logits)


def as_step_decoder(model: Seq2Seq | StepDecoder) -> StepDecoder:
    """``model`` itself if it is a :class:`StepDecoder`, a :class:`Seq2Seq` wrapped."""
    return ModelSteps(model) if isinstance(model, Seq2Seq) else model
