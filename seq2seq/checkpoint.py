"""One checkpoint file carries everything needed to translate.

Layout (a Lightning checkpoint has it too, beside its optimizer and loop state)::

    {"state_dict": {"model.<name>": tensor, ...},
     "seq2seq": {"version": 1, "model_config": {...}, "tokenizers": {...},
                 "src_lang": "de", "tgt_lang": "en"}}

Files are read with ``torch.load(weights_only=True)``: loading never runs code from the file.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

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


def translation_payload(model: Seq2Seq, tokenizers: TokenizerPair, src_lang: str, tgt_lang: str) -> dict:
    """The ``"seq2seq"`` entry of a checkpoint."""
    return {
        "version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "tokenizers": tokenizers.to_dict(),
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
    }


def prefixed_state_dict(model: Seq2Seq) -> dict[str, torch.Tensor]:
    return {STATE_PREFIX + name: tensor for name, tensor in model.state_dict().items()}


def save_checkpoint(path: str | os.PathLike, state_dict: dict, payload: dict) -> None:
    """Write a translation checkpoint atomically (a partial file never replaces a good one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"state_dict": state_dict, CHECKPOINT_KEY: payload}, partial)
    os.replace(partial, path)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, loaded safely; a clear CheckpointError for bad files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError,
            AttributeError, TypeError, OSError) as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or not a torch file that "
            f"loads with weights_only=True): {str(error).splitlines()[0] if str(error) else error!r}"
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


def model_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The model's own parameters from a checkpoint's (Lightning-prefixed) state dict."""
    return {name[len(STATE_PREFIX):]: tensor for name, tensor in checkpoint["state_dict"].items()
            if name.startswith(STATE_PREFIX)}


def load_translation_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> TranslationCheckpoint:
    """Rebuild the model (in eval mode, on ``device``) and its tokenizers from one file."""
    checkpoint = read_checkpoint(path)
    payload = checkpoint[CHECKPOINT_KEY]
    try:
        model = Seq2Seq(ModelConfig.from_dict(payload["model_config"]))
        model.load_state_dict(model_state_dict(checkpoint))
        tokenizers = TokenizerPair.from_dict(payload["tokenizers"])
    except (KeyError, RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is damaged: {error}") from error
    return TranslationCheckpoint(model.to(device).eval(), tokenizers, payload["src_lang"], payload["tgt_lang"])
