"""One checkpoint file carries everything needed to translate.

Layout (a Lightning checkpoint has it too, beside its optimizer and loop state)::

    {"state_dict": {"model.<name>": tensor, ...},
     "seq2seq": {"version": 1, "model_config": {...}, "tokenizers": {...},
                 "src_lang": "de", "tgt_lang": "en",
                 "metrics": {"val_bleu": 35.2, "epoch": 12, "step": 5400, ...}}}

``metrics`` (optional) are the validation scores of the saved weights, as logged by the
last validation before the save, with its epoch and step.

Files are read with ``torch.load(weights_only=True)``: loading never runs code from the file.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from seq2seq.files import atomic_write
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.tokenizer import TokenizerPair

CHECKPOINT_KEY = "seq2seq"
FORMAT_VERSION = 1
STATE_PREFIX = "model."


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or not one of ours; the message names the file."""


@dataclass
class TranslationCheckpoint:
    """A model ready to translate, with its tokenizers and language pair."""

    model: Seq2Seq
    tokenizers: TokenizerPair
    src_lang: str
    tgt_lang: str
    metrics: dict[str, float]


def translation_payload(model: Seq2Seq, tokenizers: TokenizerPair, src_lang: str, tgt_lang: str,
                        metrics: Mapping[str, float] | None = None) -> dict:
    """The ``"seq2seq"`` entry of a checkpoint."""
    return {
        "version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "tokenizers": tokenizers.to_dict(),
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "metrics": dict(metrics or {}),
    }


def checkpoint_metrics(checkpoint: dict) -> dict[str, float]:
    """The validation metrics a :func:`read_checkpoint` dict carries (empty if none): only
    finite numbers are kept, so a tampered entry cannot inject anything else."""
    metrics = checkpoint[CHECKPOINT_KEY].get("metrics")
    if not isinstance(metrics, Mapping):
        return {}
    return {str(name): float(value) for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


def prefixed_state_dict(model: Seq2Seq) -> dict[str, torch.Tensor]:
    return {STATE_PREFIX + name: tensor for name, tensor in model.state_dict().items()}


def save_checkpoint(path: str | os.PathLike, state_dict: dict, payload: dict) -> None:
    """Write a translation checkpoint atomically (see :func:`seq2seq.files.atomic_write`)."""
    with atomic_write(path) as stream:
        torch.save({"state_dict": state_dict, CHECKPOINT_KEY: payload}, stream)


def first_non_finite(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, or None."""
    for name, tensor in state_dict.items():
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return name
    return None


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, loaded safely; a clear CheckpointError for bad files."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError,
            AttributeError, TypeError, OSError) as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or not a torch file that "
            f"loads with weights_only=True): {_load_failure(error)}"
        ) from error
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"{path} is not a seq2seq checkpoint (no '{CHECKPOINT_KEY}' and 'state_dict' entries); "
            "use a checkpoint written by seq2seq-train or seq2seq-average"
        )
    version = checkpoint[CHECKPOINT_KEY].get("version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version!r}; this seq2seq reads {FORMAT_VERSION}")
    return checkpoint


# Torch's advice around a refused file (load it with weights_only=False, allowlist its
# classes, read the docs): we never do the first, so the reason alone is shown.
_TORCH_ADVICE = re.compile(r"weights.only|trust|safe_globals|Alternatively|Please file an "
                           r"issue|documentation", re.IGNORECASE)


def _load_failure(error: Exception) -> str:
    """The first sentence of ``torch.load``'s error that gives a reason, not advice."""
    sentences = re.split(r"(?<=\.)\s+|\n+", str(error))
    reasons = [s.strip() for s in sentences if s.strip() and not _TORCH_ADVICE.search(s)]
    if not reasons:
        return type(error).__name__
    return reasons[0].removeprefix("WeightsUnpickler error: ")


def model_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The model's own parameters from a checkpoint's (Lightning-prefixed) state dict."""
    return {name[len(STATE_PREFIX):]: tensor for name, tensor in checkpoint["state_dict"].items()
            if name.startswith(STATE_PREFIX)}


@dataclass
class CheckedParts:
    """A checkpoint's model options, weights and tokenizers, checked to fit each other."""

    config: ModelConfig
    weights: dict[str, torch.Tensor]
    tokenizers: TokenizerPair


def checked_parts(path: str | os.PathLike, checkpoint: dict) -> CheckedParts:
    """The parts of a :func:`read_checkpoint` dict, or a one-line CheckpointError naming
    ``path``: options that do not parse, weights missing or of another shape than the
    options need (compared before any model is built, so that a tampered size costs no
    memory), subword vocabularies larger than the model's, or a NaN or infinite weight."""
    payload = checkpoint[CHECKPOINT_KEY]
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        tokenizers = TokenizerPair.from_dict(payload["tokenizers"])
    except (KeyError, RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is damaged: {error}") from error
    weights = model_state_dict(checkpoint)
    problem = (weights_misfit(config, weights) or _misfit_vocabulary(config, tokenizers)
               or _non_finite_weight(weights))
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    return CheckedParts(config, weights, tokenizers)


def weights_misfit(config: ModelConfig, weights: dict[str, torch.Tensor]) -> str | None:
    """The first weight missing, foreign or of another shape than ``config`` needs, said."""
    with torch.device("meta"):  # shapes only: no memory, whatever the options say
        expected = {name: tuple(t.shape) for name, t in Seq2Seq(config).state_dict().items()}
    for name in sorted(expected.keys() | weights.keys()):
        if name not in weights:
            return f"weight {name} is missing"
        if name not in expected:
            return f"weight {name} is not one of this model's"
        if tuple(weights[name].shape) != expected[name]:
            return (f"weight {name} has shape {tuple(weights[name].shape)}, but the model "
                    f"options need {expected[name]}")
    return None


def _misfit_vocabulary(config: ModelConfig, tokenizers: TokenizerPair) -> str | None:
    for side, size in (("source", config.src_vocab_size), ("target", config.tgt_vocab_size)):
        pieces = getattr(tokenizers, side).vocab_size
        if pieces > size:
            return f"the {side} subword model has {pieces} pieces, the model only {size}"
    return None


def _non_finite_weight(weights: dict[str, torch.Tensor]) -> str | None:
    name = first_non_finite(weights)
    return None if name is None else f"weight {name} is NaN or infinite (a diverged run?)"


def load_translation_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> TranslationCheckpoint:
    """Rebuild the model (in eval mode, on ``device``) and its tokenizers from one file."""
    checkpoint = read_checkpoint(path)
    parts = checked_parts(path, checkpoint)
    model = Seq2Seq(parts.config)
    model.load_state_dict(parts.weights)
    payload = checkpoint[CHECKPOINT_KEY]
    return TranslationCheckpoint(model.to(device).eval(), parts.tokenizers, payload["src_lang"],
                                 payload["tgt_lang"], checkpoint_metrics(checkpoint))
