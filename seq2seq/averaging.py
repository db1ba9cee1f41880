"""Checkpoint averaging: the mean of several checkpoints' weights, as one translation model.

Used by ``seq2seq-average`` and, at the end of training, for ``averaged.ckpt`` (the best N
checkpoints, :class:`seq2seq.cli.BestCheckpoint`). The checkpoints must come from one model:
the same model options, tokenizers and language pair (the first that differs is named).
Floating-point weights are averaged in float64 and stored in their own dtype; other
tensors are taken from the first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from seq2seq.checkpoint import (
    CHECKPOINT_KEY,
    CheckedParts,
    CheckpointError,
    checked_parts,
    prefixed_state_dict,
    read_checkpoint,
    save_checkpoint,
    translation_payload,
)
from seq2seq.model import Seq2Seq

MUST_MATCH = {"model_config": "model options", "tokenizers": "tokenizers",
              "src_lang": "source language", "tgt_lang": "target language"}


class Averaged:
    """The averaged model, with the tokenizers and language pair of its checkpoints."""

    def __init__(self, model: Seq2Seq, parts: CheckedParts, payload: Mapping):
        self.model, self.parts, self.payload = model, parts, payload

    def save(self, path: str | os.PathLike, metrics: Mapping[str, float] | None = None) -> None:
        """Write it as a translation checkpoint (atomically), with ``metrics``."""
        save_checkpoint(path, prefixed_state_dict(self.model),
                        translation_payload(self.model, self.parts.tokenizers,
                                            self.payload["src_lang"], self.payload["tgt_lang"],
                                            metrics))


def average_checkpoints(paths: Sequence[str | os.PathLike], read=read_checkpoint) -> Averaged:
    """The average of the checkpoints at ``paths`` (at least one); CheckpointError naming the
    file that is bad or of another model. ``read(path)`` reads one checkpoint."""
    first = read(paths[0])
    parts = checked_parts(paths[0], first)
    payload = first[CHECKPOINT_KEY]
    sums = {name: tensor.double() if tensor.is_floating_point() else tensor
            for name, tensor in parts.weights.items()}
    for path in paths[1:]:
        checkpoint = read(path)
        other = checked_parts(path, checkpoint)
        _check_same_model(paths[0], payload, path, checkpoint[CHECKPOINT_KEY])
        for name, tensor in other.weights.items():
            if tensor.is_floating_point():
                sums[name] += tensor.double()
    averaged = {name: (total / len(paths)).to(parts.weights[name].dtype)
                if total.is_floating_point() else total for name, total in sums.items()}
    model = Seq2Seq(parts.config)
    model.load_state_dict(averaged)
    return Averaged(model, parts, payload)


def _check_same_model(first_path, first: Mapping, path, payload: Mapping) -> None:
    for key, what in MUST_MATCH.items():
        if payload.get(key) != first.get(key):
            raise CheckpointError(f"{path} has other {what} than {first_path}; only "
                                  "checkpoints of one model can be averaged")
