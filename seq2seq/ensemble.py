"""Several models decoding as one: the normalised weighted geometric mean of their predictions.

At each step the ensemble's log probabilities are

    log p(y | ·) = log_softmax_y( Σ_i w_i log p_i(y | ·) ),    Σ_i w_i = 1

the weighted average of the members' log probabilities (what Marian and Sockeye call
log-linear ensembling), renormalised so that search scores stay log probabilities and
forced decoding gives what search finds. Members may differ in everything but their target
vocabulary; each keeps its own source encoding and hidden state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from seq2seq.steps import DecoderState, Step, StepDecoder


@dataclass(frozen=True)
class EnsembleState:
    """One state per member, for the same N rows."""

    members: tuple[DecoderState, ...]

    def index_select(self, rows: Tensor) -> EnsembleState:
        return EnsembleState(tuple(state.index_select(rows) for state in self.members))

    def reorder_hidden(self, rows: Tensor) -> EnsembleState:
        return EnsembleState(tuple(state.reorder_hidden(rows) for state in self.members))


class Ensemble:
    """A :class:`~seq2seq.steps.StepDecoder` over ``members`` with ``weights`` (default equal;
    any positive numbers, scaled to sum to 1). With attention members, the attention it
    returns is the weighted average of theirs."""

    def __init__(self, members: Sequence[StepDecoder], weights: Sequence[float] | None = None):
        if len(members) == 0:
            raise ValueError("an ensemble needs at least one model")
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(weights) != len(members):
            raise ValueError(f"{len(weights)} weights for {len(members)} models")
        if any(not weight > 0 or weight == float("inf") for weight in weights):
            raise ValueError(f"ensemble weights must be positive and finite, got {weights}")
        largest = max(weights)  # scaled first, so that the sum cannot overflow
        total = sum(weight / largest for weight in weights)
        self.members = list(members)
        self.weights = [weight / largest / total for weight in weights]
        self.has_attention = any(member.has_attention for member in self.members)

    def start(self, src: Tensor, src_lengths: Tensor) -> EnsembleState:
        return EnsembleState(tuple(member.start(src, src_lengths) for member in self.members))

    def step(self, prev_tokens: Tensor, state: EnsembleState) -> Step:
        steps = [member.step(prev_tokens, member_state)
                 for member, member_state in zip(self.members, state.members)]
        log_probs = self._combine([step.log_probs for step in steps])
        attended = [(weight, step.attention) for weight, step in zip(self.weights, steps)
                    if step.attention is not None]
        attention = None
        if attended:
            total = sum(weight for weight, _ in attended)
            attention = sum(weight * weights.float() for weight, weights in attended) / total
        return Step(log_probs, EnsembleState(tuple(step.state for step in steps)), attention)

    def forced_log_probs(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        return self._combine([member.forced_log_probs(src, src_lengths, tgt_in)
                              for member in self.members])

    def _combine(self, log_probs: list[Tensor]) -> Tensor:
        """(..., V) per member -> (..., V) the renormalised weighted mean."""
        if len(log_probs) == 1:
            return log_probs[0]
        dtype = log_probs[0].dtype
        for other in log_probs[1:]:
            dtype = torch.promote_types(dtype, other.dtype)
        mean = sum(weight * member.to(dtype) for weight, member in zip(self.weights, log_probs))
        return torch.log_softmax(mean, dim=-1)
