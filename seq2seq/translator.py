"""Translate and score text with a trained model: tokenize, batch, search, detokenize.

    translator = Translator.from_checkpoint("runs/demo/best.ckpt")
    translator.translate(["ein Hund läuft ."])                  # ['a dog runs .']
    translator.translate(lines, beam_size=5, nbest=3)            # [[(text, score), ...], ...]
    ensemble = Translator.from_checkpoint(["a.ckpt", "b.ckpt"])   # one search over both
    for translation in translator.translate_stream(open_lines):  # input order, chunk by chunk
        print(translation.text)

The input is read in chunks of ``chunk_size`` lines, so a stream of any length is never
held whole. Each chunk is sorted by length and cut into batches that fit a token budget,
decoded, and given back in input order. Lines that are empty after stripping whitespace
translate to empty output without running the model. A line of more than
``max_src_tokens`` subword tokens is truncated to that many, with a warning on stderr
naming its line number.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from seq2seq.batching import pad_sequences, token_budget_batches
from seq2seq.checkpoint import CheckpointError, TranslationCheckpoint, load_translation_checkpoint
from seq2seq.ensemble import Ensemble
from seq2seq.model import Seq2Seq
from seq2seq.search import (
    Hypothesis,
    SearchOptions,
    beam_search,
    check_alignments,
    force_decode,
    greedy_search,
    sample_search,
)
from seq2seq.steps import ModelSteps, StepDecoder
from seq2seq.tokenizer import TokenizerPair

DEFAULT_MAX_TOKENS = 4000
DEFAULT_MAX_SRC_TOKENS = 256
# Scoring refuses longer lines; twice the translation limit, so that every pair translated
# with the defaults (source <= 256 tokens, output <= 1.5 * 256 + 10) can be scored.
DEFAULT_MAX_LINE_TOKENS = 2 * DEFAULT_MAX_SRC_TOKENS
DEFAULT_CHUNK_SIZE = 2000
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Alignment:
    """Where a hypothesis looked: ``weights[i][j]`` is target piece i's attention on source
    piece j; ``target_tokens`` ends with ``</s>`` (the step that chose EOS), and each row
    sums to 1 over the source pieces."""

    source_tokens: list[str]
    target_tokens: list[str]
    weights: list[list[float]]


@dataclass
class Translation:
    """One input line and its hypotheses as (text, score), best first; none for an empty line.
    With alignments asked for, ``alignments[i]`` belongs to ``hypotheses[i]``."""

    source: str
    hypotheses: list[tuple[str, float]]
    alignments: list[Alignment] | None = None
    # The line's subword tokens when it had more than max_src_tokens, of which only the
    # first max_src_tokens were translated; None when it was translated whole.
    truncated_from: int | None = None

    @property
    def text(self) -> str:
        return self.hypotheses[0][0] if self.hypotheses else ""

    @property
    def score(self) -> float | None:
        return self.hypotheses[0][1] if self.hypotheses else None


@dataclass(frozen=True)
class ScoreResult:
    """log p(target + EOS | source): the total, per token, and the tokens counted (EOS included)."""

    total: float
    per_token: float
    num_tokens: int


class Translator:
    """A model (or an ensemble of models) with its tokenizers, ready to translate and score.

    ``model`` is a :class:`Seq2Seq`, a list of them (an :class:`~seq2seq.ensemble.Ensemble`
    with ``weights``, which must share the tokenizers' vocabularies), or any
    :class:`~seq2seq.steps.StepDecoder` (an exported graph) that runs on ``device``.
    """

    def __init__(self, model: Seq2Seq | Sequence[Seq2Seq] | StepDecoder, tokenizers: TokenizerPair,
                 *, weights: Sequence[float] | None = None,
                 max_src_tokens: int = DEFAULT_MAX_SRC_TOKENS,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, device: str | torch.device | None = None):
        """Models are put in eval mode and used on the device their parameters are on."""
        check_positive("max_src_tokens", max_src_tokens)
        check_positive("chunk_size", chunk_size)
        if isinstance(model, Seq2Seq):
            model = [model]
        if isinstance(model, StepDecoder):
            self.models: list[Seq2Seq] = []
            self.decoder = model
            self.device = torch.device(device or "cpu")
        else:
            self.models = [member.eval() for member in model]
            members = [ModelSteps(member) for member in self.models]
            self.decoder = members[0] if len(members) == 1 and weights is None else Ensemble(
                members, weights)
            self.device = next(self.models[0].parameters()).device
        self.tokenizers = tokenizers
        self.max_src_tokens = max_src_tokens
        self.chunk_size = chunk_size

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | Sequence[str | os.PathLike],
                        device: str | torch.device = "cpu", *,
                        dtype: str | torch.dtype = "float32",
                        weights: Sequence[float] | None = None, **options) -> Translator:
        """Load a translation checkpoint, or several as an ensemble, onto ``device`` ("cpu",
        "cuda", "auto", ...).

        ``dtype`` ("float32", "bfloat16", "float16" or the torch dtype) is the precision of
        the weights and of the model's arithmetic; log-softmax, search scores and
        :meth:`score` are computed in float32 from the model's logits either way.

        Raises :class:`seq2seq.checkpoint.CheckpointError` for a missing or bad file, or for
        ensemble members whose subword vocabularies or language pair differ from the
        first's (naming the file), and ValueError for an unknown dtype.
        """
        dtype = resolve_dtype(dtype)
        device = resolve_device(device)
        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        checkpoints = [load_translation_checkpoint(each, device) for each in paths]
        return cls.from_loaded(checkpoints, paths, dtype=dtype, weights=weights, **options)

    @classmethod
    def from_loaded(cls, checkpoints: Sequence[TranslationCheckpoint],
                    paths: Sequence[str | os.PathLike], *, dtype: str | torch.dtype = "float32",
                    weights: Sequence[float] | None = None, **options) -> Translator:
        """:meth:`from_checkpoint` for checkpoints already loaded from ``paths``."""
        dtype = resolve_dtype(dtype)
        if not checkpoints:
            raise ValueError("no checkpoint given")
        first = checkpoints[0]
        for path, checkpoint in zip(paths[1:], checkpoints[1:]):
            check_same_vocabularies(first.tokenizers, paths[0], checkpoint.tokenizers, path)
            if (checkpoint.src_lang, checkpoint.tgt_lang) != (first.src_lang, first.tgt_lang):
                raise CheckpointError(
                    f"{path} translates {checkpoint.src_lang}→{checkpoint.tgt_lang}, but "
                    f"{paths[0]} {first.src_lang}→{first.tgt_lang}; an ensemble's models must "
                    "translate the same language pair")
        models = [checkpoint.model.to(dtype) for checkpoint in checkpoints]
        return cls(models, checkpoints[0].tokenizers, weights=weights, **options)

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike, backend: str = "torch",
                        device: str | torch.device = "cpu", *, dtype: str = "float32",
                        **options) -> Translator:
        """Load a model folder written by ``seq2seq-export``: a local path, or ``org/name``
        (``hf://org/name[@revision]``) from the Hugging Face hub, cached.

        ``backend="torch"`` runs model.safetensors in our :class:`Seq2Seq` (``dtype`` as for
        :meth:`from_checkpoint`); ``"onnxruntime"`` runs the exported graphs on the CPU with
        the same search (``dtype`` "float32", or "int8" for graphs exported with
        ``--quantize int8``). Raises CheckpointError naming the file at fault.
        """
        from seq2seq.export.folder import load_pretrained

        device = resolve_device(device)
        model, tokenizers = load_pretrained(path_or_repo, backend, device, dtype)
        return cls(model, tokenizers, device=device, **options)

    @property
    def model(self) -> Seq2Seq:
        """The (first) model; an exported graph has none."""
        if not self.models:
            raise AttributeError("this translator runs an exported graph, not a torch model")
        return self.models[0]

    # ---- translating ----------------------------------------------------------------------

    def translate(self, lines: Iterable[str], search: SearchOptions | None = None, *,
                  max_tokens: int = DEFAULT_MAX_TOKENS, max_src_tokens: int | None = None,
                  **search_options) -> list[str] | list[list[tuple[str, float]]]:
        """Translations of ``lines`` in order: texts, or with ``nbest > 1`` lists of
        (text, score) pairs, best first (an empty list for an empty line).

        Args:
            search: how to decode; ``search_options`` (fields of :class:`SearchOptions`,
                e.g. ``beam_size=1``) replace its values, or the defaults' without it.
            max_tokens: batch budget, counted as padded source tokens × ``beam_size`` (or
                × ``nbest`` when sampling).
            max_src_tokens: truncate longer inputs (default: the translator's, 256).
        """
        search = SearchOptions.of(search, **search_options)
        translations = self.translate_stream(lines, search, max_tokens=max_tokens,
                                             max_src_tokens=max_src_tokens)
        if search.nbest == 1:
            return [translation.text for translation in translations]
        return [translation.hypotheses for translation in translations]

    def translate_stream(self, lines: Iterable[str], search: SearchOptions | None = None, *,
                         max_tokens: int = DEFAULT_MAX_TOKENS, max_src_tokens: int | None = None,
                         alignments: bool = False, **search_options) -> Iterator[Translation]:
        """Yield a :class:`Translation` per line, in input order, ``chunk_size`` lines at a time.

        Options as for :meth:`translate`, checked before anything is read; ``alignments``
        fills :attr:`Translation.alignments` (attention models only: ValueError otherwise).
        If reading ``lines`` fails, the lines read before the failure are translated and
        yielded first, then the error is raised.
        """
        return self.translate_chunks(chunked(lines, self.chunk_size), search,
                                     max_tokens=max_tokens, max_src_tokens=max_src_tokens,
                                     alignments=alignments, **search_options)

    def translate_chunks(self, chunks: Iterable[list[str]], search: SearchOptions | None = None,
                         *, max_tokens: int = DEFAULT_MAX_TOKENS, max_src_tokens: int | None = None,
                         alignments: bool = False, **search_options) -> Iterator[Translation]:
        """As :meth:`translate_stream`, with the input already cut into chunks: each chunk
        is translated (sorted and batched) as soon as it arrives, so a caller that cuts at
        pauses of interactive input gets its lines back without waiting for more."""
        search = SearchOptions.of(search, **search_options)
        check_positive("max_tokens", max_tokens)
        limit = self.max_src_tokens if max_src_tokens is None else max_src_tokens
        check_positive("max_src_tokens", limit)
        check_alignments(self.decoder, alignments)
        return self._translate_chunks(chunks, _Decoding(search, alignments, self.device),
                                      max_tokens, limit)

    def _translate_chunks(self, chunks: Iterable[list[str]], decoding: _Decoding,
                          max_tokens: int, max_src_tokens: int) -> Iterator[Translation]:
        first_line = 1
        for chunk in chunks:
            if not chunk:
                continue
            yield from self._translate_chunk(chunk, first_line, decoding, max_tokens,
                                             max_src_tokens)
            first_line += len(chunk)

    def _translate_chunk(self, lines: list[str], first_line: int, decoding: _Decoding,
                         max_tokens: int, max_src_tokens: int) -> list[Translation]:
        translations = [Translation(line, []) for line in lines]
        texts = [line.strip() for line in lines]
        todo = [index for index, text in enumerate(texts) if text]
        encoded = self.tokenizers.source.encode_batch([texts[index] for index in todo])
        for position, (index, ids) in enumerate(zip(todo, encoded)):
            if len(ids) > max_src_tokens:
                translations[index].truncated_from = len(ids)
                encoded[position] = _truncated(ids, max_src_tokens, first_line + index)
        budget = max(1, max_tokens // decoding.search.rows_per_sentence)
        target = self.tokenizers.target
        for batch in token_budget_batches([len(ids) for ids in encoded], budget):
            src, src_lengths = pad_sequences([encoded[i] for i in batch])
            found = self._search(src.to(self.device), src_lengths.to(self.device), decoding)
            for i, hypotheses in zip(batch, found):
                translation = translations[todo[i]]
                translation.hypotheses = [(target.decode(h.tokens), h.score) for h in hypotheses]
                if decoding.alignments:
                    translation.alignments = [alignment_of(self.tokenizers, encoded[i], h)
                                              for h in hypotheses]
        for translation in translations:  # an empty line has no hypotheses to align
            if decoding.alignments and translation.alignments is None:
                translation.alignments = []
        return translations

    def _search(self, src: torch.Tensor, src_lengths: torch.Tensor,
                decoding: _Decoding) -> list[list[Hypothesis]]:
        options, alignments = decoding.search, decoding.alignments
        if options.sampling:
            return sample_search(self.decoder, src, src_lengths, options, alignments=alignments,
                                 generator=decoding.generator)
        if options.beam_size == 1:
            return [[h] for h in greedy_search(self.decoder, src, src_lengths, options,
                                               alignments=alignments)]
        return beam_search(self.decoder, src, src_lengths, options, alignments=alignments)


    # ---- scoring --------------------------------------------------------------------------

    def score(self, sources: Sequence[str], targets: Sequence[str], *,
              max_tokens: int = DEFAULT_MAX_TOKENS,
              max_line_tokens: int = DEFAULT_MAX_LINE_TOKENS,
              source_name: str = "source", target_name: str = "target",
              first_line: int = 1) -> list[ScoreResult]:
        """log p(target | source) of each pair by forced decoding, batched, in input order.

        Texts are scored as they are (no truncation); ``max_tokens`` bounds the padded
        source + target tokens of a batch.

        Raises:
            ValueError: as many sources as targets are needed, and no source or target may
                have more than ``max_line_tokens`` subword tokens (the error names the
                first such line as ``source_name:N`` or ``target_name:N``, the first pair
                being line ``first_line``), found before anything is scored.
        """
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
        check_positive("max_line_tokens", max_line_tokens)
        src_ids = self.tokenizers.source.encode_batch(list(sources))
        tgt_ids = self.tokenizers.target.encode_batch(list(targets))
        for number, (src, tgt) in enumerate(zip(src_ids, tgt_ids), start=first_line):
            for name, ids in ((source_name, src), (target_name, tgt)):
                if len(ids) > max_line_tokens:
                    raise ValueError(f"{name}:{number}: {len(ids)} subword tokens, more than "
                                     f"the {max_line_tokens} allowed per line")
        sizes = [len(src) + len(tgt) + 1 for src, tgt in zip(src_ids, tgt_ids)]
        results: list[ScoreResult | None] = [None] * len(src_ids)
        for batch in token_budget_batches(sizes, max_tokens):
            src, src_lengths = pad_sequences([src_ids[i] for i in batch])
            forced = force_decode(self.decoder, src.to(self.device), src_lengths.to(self.device),
                                  [tgt_ids[i] for i in batch])
            for i, (total, num_tokens) in zip(batch, forced):
                results[i] = ScoreResult(total, total / num_tokens, num_tokens)
        return results


def alignment_of(tokenizers: TokenizerPair, src_ids: list[int], hypothesis: Hypothesis) -> Alignment:
    """The :class:`Alignment` of a hypothesis searched with ``alignments=True`` for ``src_ids``."""
    source, target = tokenizers.source, tokenizers.target
    return Alignment([source.id_to_piece(i) for i in src_ids],
                     [target.id_to_piece(i) for i in hypothesis.tokens] + ["</s>"],
                     hypothesis.alignment.float().tolist())  # (len(tokens) + 1, S)


class _Decoding:
    """One translate call's search options, whether to align, and its sampling generator
    (seeded once per call, so that a seed gives the same samples for the same input)."""

    def __init__(self, search: SearchOptions, alignments: bool, device: torch.device):
        self.search, self.alignments, self.generator = search, alignments, None
        if search.sampling and search.seed is not None:
            self.generator = torch.Generator(device).manual_seed(search.seed)


def check_same_vocabularies(first: TokenizerPair, first_path: str | os.PathLike,
                            other: TokenizerPair, other_path: str | os.PathLike) -> None:
    """CheckpointError naming ``other_path`` unless its subword models equal ``first_path``'s
    (ensemble members read the same source ids and score the same target ids)."""
    for side in ("source", "target"):
        if getattr(first, side).to_bytes() != getattr(other, side).to_bytes():
            raise CheckpointError(
                f"{other_path}: its {side} subword vocabulary differs from {first_path}'s; "
                "an ensemble's models must share their vocabularies (train them on the same "
                "prepared data)")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA if available, else CPU.

    Raises ValueError for a name torch does not know and for a device this machine
    cannot use (CUDA without CUDA, ``cuda:3`` with one GPU).
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {str(device)!r} (use cpu, cuda, cuda:N or auto)"
                         ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but is not available (use cpu or auto)")
    try:
        torch.empty(0, device=device)
    except Exception as error:  # noqa: BLE001 - each backend fails in its own way
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"device {device} is not usable here: {reason}") from None
    return device


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """A name of :data:`DTYPES` (or one of its torch dtypes) as the torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")


def check_positive(name: str, value: object) -> None:
    """ValueError naming ``name`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def chunked(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    """``lines`` in lists of ``size``; if reading fails, the lines before it come first."""
    chunk: list[str] = []
    try:
        for line in lines:
            chunk.append(line)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except Exception:  # raised again once the lines before it are translated
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def _truncated(ids: list[int], limit: int, line_number: int) -> list[int]:
    """The first ``limit`` of a longer line's ``ids``, with a warning on stderr."""
    print(f"warning: line {line_number} has {len(ids)} subword tokens, more than the "
          f"{limit} allowed (max_src_tokens); translating its first {limit}",
          file=sys.stderr, flush=True)
    return ids[:limit]
