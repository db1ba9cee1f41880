"""Preparing a corpus once: the subword models, trained on the training split, and every
split tokenized (``datasets.map``), cached under a folder named by a hash of everything
that affects them (the options and the local files' contents), guarded by a file lock so
that DDP ranks or a second run reuse it. :class:`seq2seq.datamodule.TranslationDataModule`
loads batches from what this writes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import datasets
import torch
from filelock import FileLock

from seq2seq.data import DataError, file_digest, load_parallel
from seq2seq.demo import DEFAULT_SIZES, write_corpus
from seq2seq.tokenizer import TokenizerPair

log = logging.getLogger(__name__)

DEMO_SOURCE = "demo"
SPLITS = ("train", "validation", "test")
CACHE_VERSION = 1
NOT_IN_KEY = ("num_proc", "cache_root")  # where and how fast, not what is prepared


def default_cache_dir() -> Path:
    return Path(os.environ.get("SEQ2SEQ_CACHE", Path.home() / ".cache" / "seq2seq"))


@dataclass(frozen=True)
class CorpusPreparation:
    """What decides the prepared data (the data module's options of the same names, whose
    defaults live there), and the steps that make it."""

    source: str
    src_lang: str
    tgt_lang: str
    config: str | None
    split_stems: dict[str, str] | None
    streaming: bool
    vocab_size: int
    joint_vocab: bool
    tokenizer_type: str
    character_coverage: float
    tokenizer_sample_size: int
    max_length: int
    seed: int
    demo_sizes: dict[str, int] | None
    num_proc: int | None
    cache_root: Path

    @functools.cached_property
    def prepared_dir(self) -> Path:
        """The cache folder of this preparation (computing it hashes the local files once)."""
        options = {key: value for key, value in asdict(self).items() if key not in NOT_IN_KEY}
        options["version"] = CACHE_VERSION
        options["source_files"] = local_fingerprint(self.source)
        key = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
        return self.cache_root / f"prepared-{key.hexdigest()[:16]}"

    def prepare(self) -> Path:
        """Train the tokenizers and tokenize every split, once; later calls reuse the cache."""
        done = self.prepared_dir / "done"
        if done.exists():
            return self.prepared_dir
        self.prepared_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.prepared_dir) + ".lock"):
            if done.exists():
                return self.prepared_dir
            raw = self.load_raw()
            tokenizers = self.train_tokenizers(raw["train"])
            torch.save(tokenizers.to_dict(), self.prepared_dir / "tokenizers.pt")
            if self.streaming:  # only training is streamed; the rest is prepared once
                raw = self.load_raw(streaming=False, splits=("validation", "test"))
            for split, dataset in raw.items():
                if split == "train" and self.streaming:
                    continue
                self.tokenize_split(dataset, tokenizers, split).save_to_disk(
                    str(self.prepared_dir / split))
            done.write_text(json.dumps(asdict(self), default=str))
        return self.prepared_dir

    def tokenizers(self) -> TokenizerPair:
        state = torch.load(self.prepare() / "tokenizers.pt", weights_only=True)
        return TokenizerPair.from_dict(state)

    def prepared_split(self, split: str) -> datasets.Dataset:
        return datasets.load_from_disk(str(self.prepare() / split))

    # ---- the steps --------------------------------------------------------------------------

    def resolved_source(self) -> tuple[str, dict[str, str] | None]:
        """The corpus to load and its split stems; the demo corpus is written out first."""
        if self.source != DEMO_SOURCE:
            return self.source, self.split_stems
        if {self.src_lang, self.tgt_lang} != {"en", "de"}:
            raise DataError(f"the demo corpus is English-German; got data.src_lang="
                            f"{self.src_lang!r}, data.tgt_lang={self.tgt_lang!r}")
        sizes = self.demo_sizes or DEFAULT_SIZES
        corpus_dir = self.cache_root / f"demo-{self.seed}-{'-'.join(str(sizes[s]) for s in SPLITS)}"
        if not (corpus_dir / "done").exists():
            corpus_dir.mkdir(parents=True, exist_ok=True)
            with FileLock(str(corpus_dir) + ".lock"):
                if not (corpus_dir / "done").exists():
                    write_corpus(corpus_dir, sizes=dict(sizes), seed=self.seed,
                                 src_lang="en", tgt_lang="de", overwrite=True)
                    (corpus_dir / "done").touch()
        return str(corpus_dir), None

    def load_raw(self, streaming: bool | None = None, splits: tuple[str, ...] = SPLITS) -> dict:
        """``{split: dataset}`` of raw text pairs (see :func:`seq2seq.data.load_parallel`)."""
        source, stems = self.resolved_source()
        return load_parallel(source, self.src_lang, self.tgt_lang, config=self.config,
                             split_stems=stems, splits=splits,
                             streaming=self.streaming if streaming is None else streaming)

    def train_tokenizers(self, train) -> TokenizerPair:
        """sentencepiece models from the training split (its first pairs, when streamed)."""
        limit = self.tokenizer_sample_size
        src, tgt = [], []
        for i, row in enumerate(train):
            if i >= limit and self.streaming:
                break
            src.append(row["src"])
            tgt.append(row["tgt"])
        return TokenizerPair.train(
            src, tgt, joint=self.joint_vocab, vocab_size=self.vocab_size,
            model_type=self.tokenizer_type, character_coverage=self.character_coverage,
            input_sentence_size=limit, seed=self.seed,
        )

    def tokenize_split(self, dataset: datasets.Dataset, tokenizers: TokenizerPair,
                       split: str) -> datasets.Dataset:
        """``src_ids``, ``tgt_ids`` and ``index`` beside the text; training pairs with an
        empty side or over ``max_length`` tokens are dropped, with a warning."""
        dataset = dataset.map(lambda row, index: {"index": index}, with_indices=True)
        encode = partial(_encode_rows, tokenizers=tokenizers.to_dict())
        num_proc = self.num_proc
        if num_proc is None:
            num_proc = min(2, os.cpu_count() or 1) if len(dataset) > 50_000 else None
        tokenized = dataset.map(encode, batched=True, num_proc=num_proc,
                                desc=f"tokenizing {split}")
        if split == "train":
            before = len(tokenized)
            tokenized = tokenized.filter(lambda row: self.keeps(row["src_ids"], row["tgt_ids"]))
            dropped = before - len(tokenized)
            if dropped:
                log.warning("dropped %d of %d training pairs longer than data.max_length=%d "
                            "subword tokens", dropped, before, self.max_length)
        return tokenized

    def keeps(self, src_ids: list[int], tgt_ids: list[int]) -> bool:
        """Whether a training pair is used: both sides non-empty and within max_length
        (the target with BOS or EOS)."""
        return 0 < len(src_ids) <= self.max_length and 0 < len(tgt_ids) < self.max_length


def local_fingerprint(source: str) -> list:
    """Content hashes of a local source's files, so that any edit re-prepares the data.

    Sizes and modification times would miss an edit that keeps the size within the
    file system's timestamp resolution (a second on some), or one whose time was restored.
    """
    path = Path(source)
    if not path.exists():
        return []
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [(str(p), file_digest(p)) for p in files]


_TOKENIZER_CACHE: dict[int, TokenizerPair] = {}


def tokenizers_from(state: dict) -> TokenizerPair:
    """Rebuild tokenizers once per process (map workers receive the serialised state)."""
    key = id(state)
    if key not in _TOKENIZER_CACHE:
        _TOKENIZER_CACHE.clear()
        _TOKENIZER_CACHE[key] = TokenizerPair.from_dict(state)
    return _TOKENIZER_CACHE[key]


def _encode_rows(rows: dict, tokenizers: dict) -> dict:
    pair = tokenizers_from(tokenizers)
    return {"src_ids": pair.source.encode_batch(rows["src"]),
            "tgt_ids": pair.target.encode_batch(rows["tgt"])}
