"""Translate and score text with a trained model: tokenize, batch, search, detokenize.

    translator = Translator.from_checkpoint("runs/demo/best.ckpt")
    translator.translate(["ein Hund läuft ."])                  # ['a dog runs .']
    translator.translate(lines, beam_size=5, nbest=3)            # [[(text, score), ...], ...]
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
from seq2seq.checkpoint import load_translation_checkpoint
from seq2seq.model import Seq2Seq
from seq2seq.search import Hypothesis, SearchOptions, beam_search, force_decode, greedy_search
from seq2seq.tokenizer import TokenizerPair

DEFAULT_MAX_TOKENS = 4000
DEFAULT_MAX_SRC_TOKENS = 256
# Scoring refuses longer lines; twice the translation limit, so that every pair translated
# with the defaults (source <= 256 tokens, output <= 1.5 * 256 + 10) can be scored.
DEFAULT_MAX_LINE_TOKENS = 2 * DEFAULT_MAX_SRC_TOKENS
DEFAULT_CHUNK_SIZE = 2000
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Translation:
    """One input line and its hypotheses as (text, score), best first; none for an empty line."""

    source: str
    hypotheses: list[tuple[str, float]]

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
    """A model with its tokenizers, ready to translate and score text."""

    def __init__(self, model: Seq2Seq, tokenizers: TokenizerPair, *,
                 max_src_tokens: int = DEFAULT_MAX_SRC_TOKENS,
                 chunk_size: int = DEFAULT_CHUNK_SIZE):
        """``model`` is put in eval mode and used on the device its parameters are on."""
        check_positive("max_src_tokens", max_src_tokens)
        check_positive("chunk_size", chunk_size)
        self.model = model.eval()
        self.tokenizers = tokenizers
        self.max_src_tokens = max_src_tokens
        self.chunk_size = chunk_size

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu", *,
                        dtype: str | torch.dtype = "float32", **options) -> Translator:
        """Load a translation checkpoint onto ``device`` ("cpu", "cuda", "auto", ...).

        ``dtype`` ("float32", "bfloat16", "float16" or the torch dtype) is the precision of
        the weights and of the model's arithmetic; log-softmax, search scores and
        :meth:`score` are computed in float32 from the model's logits either way.

        Raises :class:`seq2seq.checkpoint.CheckpointError` for a missing or bad file and
        ValueError for an unknown dtype.
        """
        dtype = resolve_dtype(dtype)
        checkpoint = load_translation_checkpoint(path, resolve_device(device))
        return cls(checkpoint.model.to(dtype), checkpoint.tokenizers, **options)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---- translating ----------------------------------------------------------------------

    def translate(self, lines: Iterable[str], search: SearchOptions | None = None, *,
                  max_tokens: int = DEFAULT_MAX_TOKENS, max_src_tokens: int | None = None,
                  **search_options) -> list[str] | list[list[tuple[str, float]]]:
        """Translations of ``lines`` in order: texts, or with ``nbest > 1`` lists of
        (text, score) pairs, best first (an empty list for an empty line).

        Args:
            search: how to decode; ``search_options`` (fields of :class:`SearchOptions`,
                e.g. ``beam_size=1``) replace its values, or the defaults' without it.
            max_tokens: batch budget, counted as padded source tokens × ``beam_size``.
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
                         **search_options) -> Iterator[Translation]:
        """Yield a :class:`Translation` per line, in input order, ``chunk_size`` lines at a time.

        Options as for :meth:`translate`, checked before anything is read. If reading
        ``lines`` fails, the lines read before the failure are translated and yielded
        first, then the error is raised.
        """
        return self.translate_chunks(chunked(lines, self.chunk_size), search,
                                     max_tokens=max_tokens, max_src_tokens=max_src_tokens,
                                     **search_options)

    def translate_chunks(self, chunks: Iterable[list[str]], search: SearchOptions | None = None,
                         *, max_tokens: int = DEFAULT_MAX_TOKENS, max_src_tokens: int | None = None,
                         **search_options) -> Iterator[Translation]:
        """As :meth:`translate_stream`, with the input already cut into chunks: each chunk
        is translated (sorted and batched) as soon as it arrives, so a caller that cuts at
        pauses of interactive input gets its lines back without waiting for more."""
        search = SearchOptions.of(search, **search_options)
        check_positive("max_tokens", max_tokens)
        limit = self.max_src_tokens if max_src_tokens is None else max_src_tokens
        check_positive("max_src_tokens", limit)
        return self._translate_chunks(chunks, search, max_tokens, limit)

    def _translate_chunks(self, chunks: Iterable[list[str]], search: SearchOptions,
                          max_tokens: int, max_src_tokens: int) -> Iterator[Translation]:
        first_line = 1
        for chunk in chunks:
            if not chunk:
                continue
            yield from self._translate_chunk(chunk, first_line, search, max_tokens,
                                             max_src_tokens)
            first_line += len(chunk)

    def _translate_chunk(self, lines: list[str], first_line: int, options: SearchOptions,
                         max_tokens: int, max_src_tokens: int) -> list[Translation]:
        translations = [Translation(line, []) for line in lines]
        texts = [line.strip() for line in lines]
        todo = [index for index, text in enumerate(texts) if text]
        encoded = self.tokenizers.source.encode_batch([texts[index] for index in todo])
        encoded = [_truncated(ids, max_src_tokens, first_line + index)
                   for index, ids in zip(todo, encoded)]
        budget = max(1, max_tokens // options.beam_size)
        for batch in token_budget_batches([len(ids) for ids in encoded], budget):
            src, src_lengths = pad_sequences([encoded[i] for i in batch])
            found = self._search(src.to(self.device), src_lengths.to(self.device), options)
            for i, hypotheses in zip(batch, found):
                translations[todo[i]].hypotheses = [
                    (self.tokenizers.target.decode(h.tokens), h.score) for h in hypotheses]
        return translations

    def _search(self, src: torch.Tensor, src_lengths: torch.Tensor,
                options: SearchOptions) -> list[list[Hypothesis]]:
        if options.beam_size == 1:
            return [[h] for h in greedy_search(self.model, src, src_lengths, options)]
        return beam_search(self.model, src, src_lengths, options)

    # ---- scoring --------------------------------------------------------------------------

    def score(self, sources: Sequence[str], targets: Sequence[str], *,
              max_tokens: int = DEFAULT_MAX_TOKENS,
              max_line_tokens: int = DEFAULT_MAX_LINE_TOKENS,
              source_name: str = "source", target_name: str = "target") -> list[ScoreResult]:
        """log p(target | source) of each pair by forced decoding, batched, in input order.

        Texts are scored as they are (no truncation); ``max_tokens`` bounds the padded
        source + target tokens of a batch.

        Raises:
            ValueError: as many sources as targets are needed, and no source or target may
                have more than ``max_line_tokens`` subword tokens (the error names the
                first such line as ``source_name:N`` or ``target_name:N``), found before
                anything is scored.
        """
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
        check_positive("max_line_tokens", max_line_tokens)
        src_ids = self.tokenizers.source.encode_batch(list(sources))
        tgt_ids = self.tokenizers.target.encode_batch(list(targets))
        for number, (src, tgt) in enumerate(zip(src_ids, tgt_ids), start=1):
            for name, ids in ((source_name, src), (target_name, tgt)):
                if len(ids) > max_line_tokens:
                    raise ValueError(f"{name}:{number}: {len(ids)} subword tokens, more than "
                                     f"the {max_line_tokens} allowed per line")
        sizes = [len(src) + len(tgt) + 1 for src, tgt in zip(src_ids, tgt_ids)]
        results: list[ScoreResult | None] = [None] * len(src_ids)
        for batch in token_budget_batches(sizes, max_tokens):
            src, src_lengths = pad_sequences([src_ids[i] for i in batch])
            forced = force_decode(self.model, src.to(self.device), src_lengths.to(self.device),
                                  [tgt_ids[i] for i in batch])
            for i, (total, num_tokens) in zip(batch, forced):
                results[i] = ScoreResult(total, total / num_tokens, num_tokens)
        return results


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
    if len(ids) <= limit:
        return ids
    print(f"warning: line {line_number} has {len(ids)} subword tokens, more than the "
          f"{limit} allowed (max_src_tokens); translating its first {limit}",
          file=sys.stderr, flush=True)
    return ids[:limit]
