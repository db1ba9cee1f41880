"""A self-contained model folder: what ``seq2seq-export`` writes and translators load.

    config.json          format and version, model options, language pair, validation
                         metrics, test scores, and the size and SHA-256 of every file below
    model.safetensors    the weights (``--backend torch``)
    source.model         sentencepiece models (the same file twice for a joint vocabulary)
    target.model
    encoder.onnx         the graphs (``--backend onnxruntime``; :mod:`.onnx_graphs`)
    decoder_step.onnx
    encoder.int8.onnx    with ``--quantize int8`` (``--dtype int8``)
    decoder_step.int8.onnx
    README.md            the model card (not checked: edit it freely)

Nothing is pickled. Loading checks every file it uses against config.json and names the
file at fault in a one-line :class:`~seq2seq.checkpoint.CheckpointError`: missing, not
readable, weights or graph inputs of other shapes than the options need, or changed since
the export (its SHA-256).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from seq2seq.checkpoint import (
    CheckpointError,
    TranslationCheckpoint,
    first_non_finite,
    load_translation_checkpoint,
    weights_misfit,
)
from seq2seq.ensemble import Ensemble
from seq2seq.export.onnx_backend import OnnxSteps, inference_session, signature_misfit
from seq2seq.export.onnx_graphs import DECODER, ENCODER, GRAPH_DTYPES, graph_file, signatures
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.tokenizer import SubwordTokenizer, TokenizerPair
from seq2seq.translator import check_same_vocabularies, resolve_dtype

FORMAT = "seq2seq-model-folder"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
SOURCE_SPM, TARGET_SPM = "source.model", "target.model"
CARD = "README.md"
BACKENDS = ("torch", "onnxruntime")
HF_PREFIX = "hf://"
_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+(@[\w./-]+)?")


@dataclass
class ModelFolder:
    """A model folder whose config.json and sentencepiece models passed their checks."""

    path: Path
    config: ModelConfig
    tokenizers: TokenizerPair
    src_lang: str
    tgt_lang: str
    metrics: dict[str, float]
    info: dict  # config.json as read

    def file(self, name: str) -> Path:
        """``path / name``, or a CheckpointError if it is missing."""
        return _existing_file(self.path, name)

    def verify(self, name: str) -> None:
        """CheckpointError unless ``name`` has the size and SHA-256 config.json lists."""
        _verify(self.path, self.info, name)


def _existing_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise CheckpointError(f"{path} is missing from the model folder")
    return path


def _verify(folder: Path, info: dict, name: str) -> None:
    expected = info["files"].get(name)
    if expected is None:
        raise CheckpointError(f"{folder / name} is not listed in {folder / CONFIG}")
    if file_digest(folder / name) != expected:
        raise CheckpointError(
            f"{folder / name} is not the file {CONFIG} lists (its size or SHA-256 differs): "
            "changed since the export, or from another export")


def file_digest(path: Path) -> dict:
    """``{"bytes": size, "sha256": hex digest}`` of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


# ---- writing ------------------------------------------------------------------------------------


def output_problem(output: Path, overwrite: bool) -> str | None:
    """Why ``output`` cannot receive a model folder, or None: it must be new, an empty
    folder, or (with ``overwrite``) a model folder written before."""
    if not output.exists():
        return None
    if not output.is_dir():
        return f"{output} exists and is not a folder"
    if not any(output.iterdir()):
        return None
    if not overwrite:
        return f"{output} is not empty (--overwrite replaces a model folder written before)"
    listed = _model_folder_files(output)
    if listed is None:
        return f"{output} is not a model folder ({CONFIG} of format {FORMAT}); refusing to replace it"
    foreign = sorted(entry.name for entry in output.iterdir() if entry.name not in listed)
    if foreign:
        return (f"{output} holds files that are not the model's ({', '.join(foreign[:5])}"
                f"{', ...' if len(foreign) > 5 else ''}); move them away to replace the folder")
    return None


def _model_folder_files(path: Path) -> set[str] | None:
    """The names a model folder's config lists (itself included), or None if not one."""
    try:
        info = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        if info.get("format") != FORMAT:
            return None
        return {CONFIG, "README.md", *info.get("files", {})}
    except (OSError, ValueError, AttributeError, TypeError):
        return None


@contextlib.contextmanager
def staged_folder(output: str | os.PathLike) -> Iterator[Path]:
    """A new folder beside ``output`` to write into; it becomes ``output`` (replacing a
    previous one) only when the block succeeds, and is removed otherwise."""
    output = Path(output).absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent))
    try:
        yield staging
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp's folder is private, and safetensors' files
        for path in staging.iterdir():
            path.chmod(0o666 & ~umask)
        previous = None
        if output.exists() and any(output.iterdir()):
            previous = output.with_name(f".{output.name}.{staging.name}.old")
            os.replace(output, previous)
        os.replace(staging, output)
        if previous is not None:
            shutil.rmtree(previous)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_weights(model: Seq2Seq, path: Path) -> None:
    """The state dict as safetensors; a tensor shared under two names (tied embeddings) is
    stored once, the other name kept in the metadata's ``aliases``."""
    from safetensors.torch import save_file

    tensors, aliases, seen = {}, {}, {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape)
        if key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = tensor.detach().cpu().contiguous()
    save_file(tensors, str(path), metadata={"format": "pt", "aliases": json.dumps(aliases)})


def write_config(folder: Path, checkpoint: TranslationCheckpoint, *, exported: Mapping) -> dict:
    """Write config.json for the files already in ``folder``; returns what it wrote.
    ``exported``: what the export adds (graph dtypes, test scores, data description)."""
    files = {path.name: file_digest(path) for path in sorted(folder.iterdir())
             if path.is_file() and path.name not in (CONFIG, CARD)}
    info = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "model_config": checkpoint.model.config.to_dict(),
            "src_lang": checkpoint.src_lang, "tgt_lang": checkpoint.tgt_lang,
            "joint_vocabulary": checkpoint.tokenizers.joint,
            "metrics": dict(checkpoint.metrics), **exported, "files": files}
    (folder / CONFIG).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    return info


def write_tokenizers(tokenizers: TokenizerPair, folder: Path) -> None:
    tokenizers.source.save(folder / SOURCE_SPM)
    tokenizers.target.save(folder / TARGET_SPM)


# ---- reading ------------------------------------------------------------------------------------


def is_folder_reference(reference: str | os.PathLike) -> bool:
    """Whether a ``--checkpoint`` value names a model folder (a folder, or ``hf://org/name``)."""
    return str(reference).startswith(HF_PREFIX) or Path(reference).is_dir()


def resolve_folder(reference: str | os.PathLike, *, bare_repo_ids: bool = False) -> Path:
    """The local folder of ``reference``: a path, or ``hf://org/name[@revision]`` (and with
    ``bare_repo_ids``, ``org/name`` where no such local path exists) fetched from the
    Hugging Face hub into its cache."""
    text = str(reference)
    if text.startswith(HF_PREFIX):
        from seq2seq.export.hub import download

        return download(text[len(HF_PREFIX):])
    path = Path(reference)
    if path.is_dir():
        return path
    if bare_repo_ids and not path.exists() and _REPO_ID.fullmatch(text):
        from seq2seq.export.hub import download

        return download(text)
    if path.exists():
        raise CheckpointError(f"{path} is not a model folder (a file; a folder written by "
                              "seq2seq-export is expected)")
    raise CheckpointError(f"model folder {path} does not exist")


def read_model_folder(path: str | os.PathLike) -> ModelFolder:
    """config.json and the sentencepiece models of a model folder, checked."""
    path = Path(path)
    config_path = path / CONFIG
    info = _read_config(config_path)
    try:
        config = ModelConfig.from_dict(info["model_config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{config_path}: bad model_config: {error}") from None
    for key in ("src_lang", "tgt_lang"):
        if not isinstance(info.get(key), str):
            raise CheckpointError(f"{config_path}: {key} must be a string, got {info.get(key)!r}")
    return ModelFolder(path, config, _read_tokenizers(path, info, config), info["src_lang"],
                       info["tgt_lang"], _finite_numbers(info.get("metrics")), info)


def _read_config(path: Path) -> dict:
    if not path.parent.is_dir():
        raise CheckpointError(f"model folder {path.parent} does not exist")
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: {path.parent} is not a model folder written "
                              "by seq2seq-export")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not the config of a seq2seq model folder "
                              f"(no \"format\": \"{FORMAT}\")")
    if info.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {info.get('format_version')!r}; this "
                              f"seq2seq reads {FORMAT_VERSION}")
    files = info.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(digest, dict) and set(digest) == {"bytes", "sha256"} for digest in files.values()):
        raise CheckpointError(f"{path}: \"files\" must map each file to its bytes and sha256")
    return info


def _finite_numbers(metrics: object) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        return {}
    return {str(name): float(value) for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


def _read_tokenizers(folder: Path, info: dict, config: ModelConfig) -> TokenizerPair:
    sides = []
    for name, size in ((SOURCE_SPM, config.src_vocab_size), (TARGET_SPM, config.tgt_vocab_size)):
        path = _existing_file(folder, name)
        try:
            tokenizer = SubwordTokenizer.load(path)
        except (OSError, RuntimeError, ValueError) as error:
            raise CheckpointError(f"{path} is not a usable sentencepiece model: "
                                  f"{str(error).splitlines()[0] if str(error) else error!r}") from None
        if tokenizer.vocab_size > size:
            raise CheckpointError(f"{path} has {tokenizer.vocab_size} pieces, but {CONFIG}'s "
                                  f"model has {size}")
        _verify(folder, info, name)
        sides.append(tokenizer)
    if info.get("joint_vocabulary") is True:
        return TokenizerPair(sides[0])
    return TokenizerPair(*sides)


# ---- loading ------------------------------------------------------------------------------------


def load_torch(folder: ModelFolder, device: str | torch.device = "cpu") -> TranslationCheckpoint:
    """The folder's model.safetensors in a :class:`Seq2Seq` (eval mode, on ``device``)."""
    path = folder.file(WEIGHTS)
    weights = read_weights(path)
    problem = weights_misfit(folder.config, weights)
    if problem is None and (name := first_non_finite(weights)) is not None:
        problem = f"weight {name} is NaN or infinite"
    if problem:
        raise CheckpointError(f"{path}: {problem} (options from {CONFIG})")
    folder.verify(WEIGHTS)
    model = Seq2Seq(folder.config)
    model.load_state_dict(weights)
    return TranslationCheckpoint(model.to(device).eval(), folder.tokenizers, folder.src_lang,
                                 folder.tgt_lang, folder.metrics)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, with the aliases of :func:`write_weights` restored."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as stream:
            aliases = json.loads((stream.metadata() or {}).get("aliases", "{}"))
            weights = {name: stream.get_tensor(name) for name in stream.keys()}  # noqa: SIM118
    except Exception as error:  # noqa: BLE001 - safetensors raises its own errors and OSError
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path} is not a readable safetensors file: {reason}") from None
    if not isinstance(aliases, dict) or not all(
            isinstance(name, str) and target in weights for name, target in aliases.items()):
        raise CheckpointError(f"{path}: its metadata's aliases name no stored tensor")
    return weights | {name: weights[target] for name, target in aliases.items()}


def load_onnx(folder: ModelFolder, dtype: str = "float32", threads: int | None = None):
    """The folder's graphs of ``dtype`` ("float32" or "int8") as an
    :class:`~seq2seq.export.onnx_backend.OnnxSteps`."""
    if dtype not in GRAPH_DTYPES:
        raise ValueError(f"exported graphs come in {', '.join(GRAPH_DTYPES)}, not {dtype}")
    sessions = []
    for graph in (ENCODER, DECODER):
        name = graph_file(graph, dtype)
        path = folder.path / name
        if not path.is_file():
            hint = " (export with --quantize int8 for int8 graphs)" if dtype != "float32" else ""
            raise CheckpointError(f"{path} is missing from the model folder{hint}")
        try:
            session = inference_session(path, threads)
        except Exception as error:  # noqa: BLE001 - onnxruntime's errors have no common base
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise CheckpointError(f"{path} is not a loadable ONNX graph: {reason}") from None
        problem = signature_misfit(session, signatures(folder.config)[graph])
        if problem:
            raise CheckpointError(f"{path}: {problem} ({CONFIG}'s model options)")
        folder.verify(name)
        sessions.append(session)
    return OnnxSteps(*sessions)


def load_checkpoint_or_folder(reference: str, device: str | torch.device = "cpu"
                              ) -> TranslationCheckpoint:
    """A translation checkpoint file, or a model folder (``hf://`` too) for the torch backend."""
    if is_folder_reference(reference):
        return load_torch(read_model_folder(resolve_folder(reference)), device)
    return load_translation_checkpoint(reference, device)


def load_pretrained(reference: str | os.PathLike, backend: str = "torch",
                    device: str | torch.device = "cpu", dtype: str | torch.dtype = "float32"):
    """``(model, tokenizers)`` of a model folder, local or on the hub (``org/name``,
    ``hf://org/name``): a :class:`Seq2Seq` in ``dtype`` on ``device`` (backend "torch"), or
    an OnnxSteps of the ``dtype`` ("float32", "int8") graphs (backend "onnxruntime", CPU)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    folder = read_model_folder(resolve_folder(reference, bare_repo_ids=True))
    if backend == "onnxruntime":
        if torch.device(device).type != "cpu":
            raise ValueError(f"the onnxruntime backend runs on the CPU, not {device}")
        return load_onnx(folder, str(dtype).removeprefix("torch.")), folder.tokenizers
    model = load_torch(folder, device).model.to(resolve_dtype(dtype))
    return model, folder.tokenizers


def load_onnx_ensemble(references: list[str], dtype: str = "float32",
                       weights: list[float] | None = None):
    """``(decoder, tokenizers)`` for ``--backend onnxruntime``: the graphs of one model
    folder, or an :class:`~seq2seq.ensemble.Ensemble` of several (sharing vocabularies)."""
    members, first = [], None
    for reference in references:
        if not is_folder_reference(reference):
            raise CheckpointError(f"{reference}: --backend onnxruntime runs model folders "
                                  "written by seq2seq-export, not checkpoint files")
        folder = read_model_folder(resolve_folder(reference))
        if first is not None:
            check_same_vocabularies(first.tokenizers, references[0], folder.tokenizers, reference)
        first = first or folder
        members.append(load_onnx(folder, dtype))
    if len(members) == 1 and weights is None:
        return members[0], first.tokenizers
    return Ensemble(members, weights), first.tokenizers
