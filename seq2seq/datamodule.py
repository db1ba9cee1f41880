"""The Lightning data module: corpus -> subword ids -> token-budget batches, prepared once.

Preparation (tokenizer training on the train split, tokenization of every split through
``datasets.map``) is cached under ``cache_dir`` in a folder named by a hash of everything
that affects it, guarded by a file lock so that DDP ranks (or a second run) reuse it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import datasets
import pytorch_lightning as pl
import torch
from datasets.distributed import split_dataset_by_node
from filelock import FileLock
from torch.utils.data import DataLoader, IterableDataset

from seq2seq.batching import (
    Batch,
    TokenBucketBatchSampler,
    bucket_boundaries,
    bucket_pad_length,
    collate_pairs,
    padded_length,
    token_budget_batches,
)
from seq2seq.data import DataError, file_digest, load_parallel
from seq2seq.demo import DEFAULT_SIZES, write_corpus
from seq2seq.tokenizer import TokenizerPair

log = logging.getLogger(__name__)

DEMO_SOURCE = "demo"
SPLITS = ("train", "validation", "test")
_CACHE_VERSION = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("SEQ2SEQ_CACHE", Path.home() / ".cache" / "seq2seq"))


class ResumableDataLoader(DataLoader):
    """A DataLoader whose position in the epoch is saved in Lightning checkpoints.

    Lightning stores ``state_dict()`` of loaders that have one; ``batches_trained`` is
    counted by the data module as batches reach the training step (not as they are
    prefetched), so a resumed run continues with exactly the next batch.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches_trained = 0

    def __iter__(self):
        sampler = self.batch_sampler
        self.batches_trained = getattr(sampler, "_skip_batches", 0) if sampler is not None else 0
        return super().__iter__()

    def state_dict(self) -> dict:
        sampler = self.batch_sampler
        epoch = getattr(sampler, "epoch", 0)
        return {"epoch": epoch, "batches_yielded": self.batches_trained}

    def load_state_dict(self, state: dict) -> None:
        sampler = self.batch_sampler
        if hasattr(sampler, "load_state_dict"):
            sampler.load_state_dict(state)


class TranslationDataModule(pl.LightningDataModule):
    """Parallel corpus to padded batches for training, validation and test.

    Args:
        source: ``"demo"`` (the built-in synthetic English->German corpus), a hub dataset
            name, or a local path (see :func:`seq2seq.data.load_parallel`).
        src_lang, tgt_lang: language codes, e.g. ``de`` and ``en``.
        config: hub dataset configuration (e.g. ``fr-en`` for ``wmt14``).
        split_stems: file stems of local splits, e.g. ``{"validation": "val"}``.
        streaming: stream the training split (for corpora larger than memory).
        vocab_size, joint_vocab, tokenizer_type, character_coverage, tokenizer_sample_size:
            sentencepiece options (trained on the training split only).
        subword_alpha: > 0 turns on subword regularisation (sampled segmentations) for
            training batches.
        max_length: training pairs with more subword tokens on either side are dropped.
        max_tokens: padded tokens per training batch (token-budget batching) or
            ``batch_size`` sentences per batch (give exactly one).
        eval_max_tokens: padded source tokens per validation/test batch.
        fixed_shapes: pad every batch to its bucket's length (a fixed set of shapes, for
            CUDA-graph capture on GPUs); off pads to the batch's longest sequence.
        demo_sizes: split sizes of the demo corpus.
        cache_dir: where prepared data lives (default ``$SEQ2SEQ_CACHE`` or ~/.cache/seq2seq).
    """

    def __init__(
        self,
        source: str = DEMO_SOURCE,
        src_lang: str = "en",
        tgt_lang: str = "de",
        config: str | None = None,
        split_stems: dict[str, str] | None = None,
        streaming: bool = False,
        vocab_size: int = 8000,
        joint_vocab: bool = True,
        tokenizer_type: str = "unigram",
        character_coverage: float = 1.0,
        tokenizer_sample_size: int = 1_000_000,
        subword_alpha: float = 0.0,
        max_length: int = 100,
        max_tokens: int | None = 4096,
        batch_size: int | None = None,
        eval_max_tokens: int = 8000,
        fixed_shapes: bool = False,
        num_workers: int = 0,
        num_proc: int | None = None,
        seed: int = 1234,
        demo_sizes: dict[str, int] | None = None,
        cache_dir: str | None = None,
    ):
        super().__init__()
        if (max_tokens is None) == (batch_size is None):
            raise ValueError("give exactly one of data.max_tokens and data.batch_size "
                             "(set the other to null)")
        if streaming and fixed_shapes:
            raise ValueError("data.fixed_shapes is not available with data.streaming")
        self.save_hyperparameters()
        self.source, self.src_lang, self.tgt_lang = source, src_lang, tgt_lang
        self.max_length = max_length
        self.boundaries = bucket_boundaries(max_length + 1)
        self._tokenizers: TokenizerPair | None = None
        self._splits: dict[str, datasets.Dataset] = {}
        self._references: dict[str, list[str]] = {}

    # ---- preparation ------------------------------------------------------------------

    @property
    def cache_root(self) -> Path:
        return Path(self.hparams.cache_dir) if self.hparams.cache_dir else default_cache_dir()

    def _preparation_key(self) -> str:
        keys = ("source", "src_lang", "tgt_lang", "config", "split_stems", "streaming", "vocab_size",
                "joint_vocab", "tokenizer_type", "character_coverage", "tokenizer_sample_size",
                "max_length", "seed", "demo_sizes")
        options = {key: self.hparams[key] for key in keys}
        options["version"] = _CACHE_VERSION
        options["source_files"] = _local_fingerprint(self.hparams.source)
        return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @functools.cached_property
    def prepared_dir(self) -> Path:
        return self.cache_root / f"prepared-{self._preparation_key()}"  # hashes the files once

    def prepare_data(self) -> None:
        self._prepare()

    def _prepare(self) -> None:
        """Train the tokenizers and tokenize every split, once; later calls reuse the cache."""
        done = self.prepared_dir / "done"
        if done.exists():
            return
        self.prepared_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.prepared_dir) + ".lock"):
            if done.exists():
                return
            raw = self._load_raw()
            tokenizers = self._train_tokenizers(raw["train"])
            torch.save(tokenizers.to_dict(), self.prepared_dir / "tokenizers.pt")
            if self.hparams.streaming:  # only training is streamed; the rest is prepared once
                raw = self._load_raw(streaming=False, splits=("validation", "test"))
            for split in raw:
                if split == "train" and self.hparams.streaming:
                    continue
                tokenized = self._tokenize_split(raw[split], tokenizers, split)
                tokenized.save_to_disk(str(self.prepared_dir / split))
            done.write_text(json.dumps(dict(self.hparams), default=str))

    def _resolved_source(self) -> tuple[str, dict[str, str] | None]:
        if self.hparams.source != DEMO_SOURCE:
            return self.hparams.source, self.hparams.split_stems
        sizes = self.hparams.demo_sizes or DEFAULT_SIZES
        corpus_dir = self.cache_root / f"demo-{self.hparams.seed}-{'-'.join(str(sizes[s]) for s in SPLITS)}"
        if not (corpus_dir / "done").exists():
            corpus_dir.mkdir(parents=True, exist_ok=True)
            with FileLock(str(corpus_dir) + ".lock"):
                if not (corpus_dir / "done").exists():
                    write_corpus(corpus_dir, sizes=dict(sizes), seed=self.hparams.seed,
                                 src_lang="en", tgt_lang="de", overwrite=True)
                    (corpus_dir / "done").touch()
        if {self.src_lang, self.tgt_lang} != {"en", "de"}:
            raise DataError(f"the demo corpus is English-German; got data.src_lang={self.src_lang!r}, "
                            f"data.tgt_lang={self.tgt_lang!r}")
        return str(corpus_dir), None

    def _load_raw(self, streaming: bool | None = None, splits: tuple[str, ...] = SPLITS) -> dict:
        source, stems = self._resolved_source()
        return load_parallel(source, self.src_lang, self.tgt_lang, config=self.hparams.config,
                             split_stems=stems, splits=splits,
                             streaming=self.hparams.streaming if streaming is None else streaming)

    def _train_tokenizers(self, train) -> TokenizerPair:
        limit = self.hparams.tokenizer_sample_size
        src, tgt = [], []
        for i, row in enumerate(train):
            if i >= limit and self.hparams.streaming:
                break
            src.append(row["src"])
            tgt.append(row["tgt"])
        return TokenizerPair.train(
            src, tgt, joint=self.hparams.joint_vocab, vocab_size=self.hparams.vocab_size,
            model_type=self.hparams.tokenizer_type, character_coverage=self.hparams.character_coverage,
            input_sentence_size=limit, seed=self.hparams.seed,
        )

    def _tokenize_split(self, dataset: datasets.Dataset, tokenizers: TokenizerPair, split: str):
        dataset = dataset.map(lambda row, index: {"index": index}, with_indices=True)
        encode = partial(_encode_rows, tokenizers=tokenizers.to_dict())
        num_proc = self.hparams.num_proc
        if num_proc is None:
            num_proc = min(2, os.cpu_count() or 1) if len(dataset) > 50_000 else None
        tokenized = dataset.map(encode, batched=True, num_proc=num_proc,
                                desc=f"tokenizing {split}")
        if split == "train":
            before = len(tokenized)
            tokenized = tokenized.filter(
                lambda row: 0 < len(row["src_ids"]) <= self.max_length
                and 0 < len(row["tgt_ids"]) < self.max_length)
            dropped = before - len(tokenized)
            if dropped:
                log.warning("dropped %d of %d training pairs longer than data.max_length=%d "
                            "subword tokens", dropped, before, self.max_length)
        return tokenized

    # ---- what the model and the training module need -----------------------------------

    @property
    def tokenizers(self) -> TokenizerPair:
        if self._tokenizers is None:
            self._prepare()
            state = torch.load(self.prepared_dir / "tokenizers.pt", weights_only=True)
            self._tokenizers = TokenizerPair.from_dict(state)
        return self._tokenizers

    @property
    def src_vocab_size(self) -> int:
        return self.tokenizers.source.vocab_size

    @property
    def tgt_vocab_size(self) -> int:
        return self.tokenizers.target.vocab_size

    def setup(self, stage: str | None = None) -> None:
        self._prepare()
        for split in SPLITS:
            if split == "train" and self.hparams.streaming:
                continue
            if split not in self._splits:
                self._splits[split] = datasets.load_from_disk(str(self.prepared_dir / split))

    def references(self, split: str) -> list[str]:
        """The raw (detokenized) target sentences of a split, in corpus order."""
        if split not in self._references:
            self.setup()
            self._references[split] = list(self._splits[split]["tgt"])
        return self._references[split]

    def sources(self, split: str) -> list[str]:
        self.setup()
        return list(self._splits[split]["src"])

    # ---- loaders ----------------------------------------------------------------------

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def train_dataloader(self):
        rank, world = self._rank_and_world()
        if self.hparams.streaming:
            stream = StreamingBatches(self, rank, world)
            return DataLoader(stream, batch_size=None, num_workers=self.hparams.num_workers)
        dataset = self._splits["train"]
        sampler = TokenBucketBatchSampler(
            _padded_lengths(dataset), max_tokens=self.hparams.max_tokens,
            batch_size=self.hparams.batch_size, boundaries=self.boundaries, shuffle=True,
            seed=self.hparams.seed, num_replicas=world, rank=rank,
        )
        return ResumableDataLoader(dataset, batch_sampler=sampler, collate_fn=self._train_collate(),
                                   num_workers=self.hparams.num_workers)

    def _train_collate(self):
        if self.hparams.subword_alpha > 0:
            return partial(_collate_sampled, tokenizers=self.tokenizers.to_dict(),
                           alpha=self.hparams.subword_alpha, max_length=self.max_length)
        if self.hparams.fixed_shapes:
            return partial(_collate_fixed, boundaries=self.boundaries)
        return _collate

    def _eval_dataloader(self, split: str):
        dataset = self._splits[split]
        rank, world = self._rank_and_world()
        lengths = [len(ids) + 1 for ids in dataset["src_ids"]]
        sampler = TokenBucketBatchSampler(
            lengths, max_tokens=self.hparams.eval_max_tokens, boundaries=_eval_boundaries(lengths),
            shuffle=False, num_replicas=world, rank=rank,
        )
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=_collate,
                          num_workers=self.hparams.num_workers)

    def val_dataloader(self):
        return self._eval_dataloader("validation")

    def test_dataloader(self):
        return self._eval_dataloader("test")

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        trainer = self.trainer
        if trainer is not None and trainer.training:
            loader = trainer.train_dataloader
            if isinstance(loader, ResumableDataLoader):
                loader.batches_trained += 1
        return batch


def _local_fingerprint(source: str) -> list:
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


def _tokenizers_from(state: dict) -> TokenizerPair:
    """Rebuild tokenizers once per process (map workers receive the serialised state)."""
    key = id(state)
    if key not in _TOKENIZER_CACHE:
        _TOKENIZER_CACHE.clear()
        _TOKENIZER_CACHE[key] = TokenizerPair.from_dict(state)
    return _TOKENIZER_CACHE[key]


def _encode_rows(rows: dict, tokenizers: dict) -> dict:
    pair = _tokenizers_from(tokenizers)
    return {"src_ids": pair.source.encode_batch(rows["src"]),
            "tgt_ids": pair.target.encode_batch(rows["tgt"])}


def _padded_lengths(dataset: datasets.Dataset) -> list[int]:
    """Per example, the padded length that matters for batching (:func:`padded_length`)."""
    return [padded_length(len(s), len(t)) for s, t in zip(dataset["src_ids"], dataset["tgt_ids"])]


def _eval_boundaries(lengths: list[int]) -> list[int]:
    return bucket_boundaries(max(max(lengths, default=1), 1))


def _examples(rows: list[dict]) -> list[dict]:
    return [{"src_ids": row["src_ids"], "tgt_ids": row.get("tgt_ids"), "index": row["index"]}
            for row in rows]


def _collate(rows: list[dict]) -> Batch:
    # Validation and test keep empty sources: a batch of only those is still one PAD column
    # wide, so that the encoder has a step to run (as in seq2seq.search).
    width = max(1, *(len(row["src_ids"]) for row in rows))
    return collate_pairs(_examples(rows), src_pad_to=width)


def _collate_fixed(rows: list[dict], boundaries: list[int]) -> Batch:
    longest = max(padded_length(len(r["src_ids"]), len(r["tgt_ids"])) for r in rows)
    length = bucket_pad_length(longest, boundaries)
    return collate_pairs(_examples(rows), src_pad_to=length, tgt_pad_to=length)


def _collate_sampled(rows: list[dict], tokenizers: dict, alpha: float, max_length: int) -> Batch:
    """Training batches with freshly sampled segmentations (subword regularisation)."""
    pair = _tokenizers_from(tokenizers)
    examples = [{"src_ids": pair.source.encode(row["src"], sample=True, alpha=alpha)[:max_length],
                 "tgt_ids": pair.target.encode(row["tgt"], sample=True, alpha=alpha)[: max_length - 1],
                 "index": row["index"]} for row in rows]
    return collate_pairs(examples)


class StreamingBatches(IterableDataset):
    """Token-budget batches from a streamed training split, sharded across DDP ranks.

    Reads a buffer of examples, sorts it by length, cuts it into batches of at most
    ``max_tokens`` padded tokens (or ``batch_size`` sentences) and yields them shuffled.
    """

    buffer_size = 20_000

    def __init__(self, data: TranslationDataModule, rank: int, world_size: int):
        self.data, self.rank, self.world_size = data, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[Batch]:
        stream = self.data._load_raw(streaming=True)["train"]
        stream = split_dataset_by_node(stream, rank=self.rank, world_size=self.world_size)
        worker = torch.utils.data.get_worker_info()
        tokenizers = self.data.tokenizers
        rng = random.Random(self.data.hparams.seed + self.epoch)
        buffer: list[dict] = []
        for index, row in enumerate(stream):
            if worker is not None and index % worker.num_workers != worker.id:
                continue
            src = tokenizers.source.encode(row["src"])
            tgt = tokenizers.target.encode(row["tgt"])
            if 0 < len(src) <= self.data.max_length and 0 < len(tgt) < self.data.max_length:
                buffer.append({"src_ids": src, "tgt_ids": tgt, "index": index})
            if len(buffer) >= self.buffer_size:
                yield from self._batches(buffer, rng)
                buffer = []
        yield from self._batches(buffer, rng)

    def _batches(self, buffer: list[dict], rng: random.Random) -> Iterator[Batch]:
        lengths = [padded_length(len(e["src_ids"]), len(e["tgt_ids"])) for e in buffer]
        batches = token_budget_batches(lengths, self.data.hparams.max_tokens,
                                       self.data.hparams.batch_size)
        rng.shuffle(batches)
        for batch in batches:
            yield collate_pairs([buffer[i] for i in batch])
