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

from seq2seq.batching import pad_sequences
from seq2seq.checkpoint import load_translation_checkpoint
from seq2seq.model import Seq2Seq
from seq2seq.search import Hypothesis, beam_search, force_decode, greedy_search
from seq2seq.tokenizer import TokenizerPair

DEFAULT_MAX_SRC_TOKENS = 256
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


@dataclass(frozen=True)
class SearchOptions:
    """How to decode; see :func:`seq2seq.search.beam_search`. ``beam_size=1`` is greedy search."""

    beam_size: int = 5
    nbest: int = 1
    alpha: float = 1.0
    max_len_a: float = 1.5
    max_len_b: float = 10
    min_length: int = 0
    ban_unk: bool = False
    exact_stop: bool = False

    def __post_init__(self) -> None:
        if self.beam_size < 1 or not 1 <= self.nbest <= self.beam_size:
            raise ValueError(f"need 1 <= nbest <= beam_size, got nbest={self.nbest}, "
                             f"beam_size={self.beam_size}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")


class Translator:
    """A model with its tokenizers, ready to translate and score text."""

    def __init__(self, model: Seq2Seq, tokenizers: TokenizerPair, *,
                 max_src_tokens: int = DEFAULT_MAX_SRC_TOKENS,
                 chunk_size: int = DEFAULT_CHUNK_SIZE):
        """``model`` is put in eval mode and used on the device its parameters are on."""
        if max_src_tokens < 1 or chunk_size < 1:
            raise ValueError("max_src_tokens and chunk_size must be positive")
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

    def translate(self, lines: Iterable[str], *, beam_size: int = 5, nbest: int = 1,
                  alpha: float = 1.0, max_tokens: int = 4000, max_src_tokens: int | None = None,
                  max_len_a: float = 1.5, max_len_b: float = 10, min_length: int = 0,
                  ban_unk: bool = False,
                  exact_stop: bool = False) -> list[str] | list[list[tuple[str, float]]]:
        """Translations of ``lines`` in order: texts, or with ``nbest > 1`` lists of
        (text, score) pairs, best first (an empty list for an empty line).

        Args:
            max_tokens: batch budget, counted as padded source tokens × ``beam_size``.
            max_src_tokens: truncate longer inputs (default: the translator's, 256).
        """
        translations = self.translate_stream(
            lines, beam_size=beam_size, nbest=nbest, alpha=alpha, max_tokens=max_tokens,
            max_src_tokens=max_src_tokens, max_len_a=max_len_a, max_len_b=max_len_b,
            min_length=min_length, ban_unk=ban_unk, exact_stop=exact_stop)
        if nbest == 1:
            return [translation.text for translation in translations]
        return [translation.hypotheses for translation in translations]

    def translate_stream(self, lines: Iterable[str], *, max_tokens: int = 4000,
                         max_src_tokens: int | None = None,
                         **search_options) -> Iterator[Translation]:
        """Yield a :class:`Translation` per line, in input order, one chunk at a time.

        ``search_options`` are the fields of :class:`SearchOptions`. If reading ``lines``
        fails, the lines read before the failure are translated and yielded first, then
        the error is raised.
        """
        options = SearchOptions(**search_options)
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        limit = self.max_src_tokens if max_src_tokens is None else max_src_tokens
        lines = iter(lines)
        first_line = 1
        while True:
            chunk, error = _read_chunk(lines, self.chunk_size)
            yield from self._translate_chunk(chunk, first_line, options, max_tokens, limit)
            if error is not None:
                raise error
            if len(chunk) < self.chunk_size:
                return
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
        limits = {"max_len_a": options.max_len_a, "max_len_b": options.max_len_b,
                  "min_length": options.min_length, "ban_unk": options.ban_unk}
        if options.beam_size == 1:
            return [[h] for h in greedy_search(self.model, src, src_lengths, alpha=options.alpha,
                                               **limits)]
        return beam_search(self.model, src, src_lengths, beam_size=options.beam_size,
                           nbest=options.nbest, alpha=options.alpha,
                           exact_stop=options.exact_stop, **limits)

    # ---- scoring --------------------------------------------------------------------------

    def score(self, sources: Sequence[str], targets: Sequence[str], *,
              max_tokens: int = 4000) -> list[ScoreResult]:
        """log p(target | source) of each pair by forced decoding, batched, in input order.

        Texts are scored as they are (no truncation); ``max_tokens`` bounds the padded
        source + target tokens of a batch.
        """
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
        src_ids = self.tokenizers.source.encode_batch(list(sources))
        tgt_ids = self.tokenizers.target.encode_batch(list(targets))
        sizes = [len(src) + len(tgt) + 1 for src, tgt in zip(src_ids, tgt_ids)]
        results: list[ScoreResult | None] = [None] * len(src_ids)
        for batch in token_budget_batches(sizes, max_tokens):
            src, src_lengths = pad_sequences([src_ids[i] for i in batch])
            forced = force_decode(self.model, src.to(self.device), src_lengths.to(self.device),
                                  [tgt_ids[i] for i in batch])
            for i, (total, num_tokens) in zip(batch, forced):
                results[i] = ScoreResult(total, total / num_tokens, num_tokens)
        return results


def token_budget_batches(sizes: Sequence[int], budget: int) -> list[list[int]]:
    """Indices of ``sizes`` sorted by size, cut so that padded size × count <= ``budget``.

    A single item larger than the budget gets a batch of its own.
    """
    batches: list[list[int]] = []
    batch: list[int] = []
    for index in sorted(range(len(sizes)), key=sizes.__getitem__):
        if batch and max(sizes[index], 1) * (len(batch) + 1) > budget:
            batches.append(batch)
            batch = []
        batch.append(index)
    if batch:
        batches.append(batch)
    return batches


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA if available, else CPU. A CUDA device without CUDA is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but is not available (use --device cpu or auto)")
    return device


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """A name of :data:`DTYPES` (or one of its torch dtypes) as the torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")


def _read_chunk(lines: Iterator[str], size: int) -> tuple[list[str], Exception | None]:
    """Up to ``size`` lines, and the error that stopped the reading early, if any."""
    chunk: list[str] = []
    while len(chunk) < size:
        try:
            line = next(lines)
        except StopIteration:
            break
        except Exception as error:  # noqa: BLE001 - raised again once the lines before it are done
            return chunk, error
        chunk.append(line)
    return chunk, None


def _truncated(ids: list[int], limit: int, line_number: int) -> list[int]:
    if len(ids) <= limit:
        return ids
    print(f"warning: line {line_number} has {len(ids)} subword tokens, more than the "
          f"{limit} allowed (max_src_tokens); translating its first {limit}",
          file=sys.stderr, flush=True)
    return ids[:limit]
