"""The Lightning data module: a prepared corpus (:mod:`seq2seq.preparation`) as token-budget
batches for training, validation and test, sharded across DDP ranks, resumable mid-epoch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import datasets
import pytorch_lightning as pl
import torch
from datasets.distributed import split_dataset_by_node
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
from seq2seq.preparation import (
    DEMO_SOURCE,
    SPLITS,
    CorpusPreparation,
    default_cache_dir,
    tokenizers_from,
)
from seq2seq.tokenizer import TokenizerPair


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
        return {**self.batch_sampler.state_dict(), "batches_yielded": self.batches_trained}

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
        self.preparation = CorpusPreparation(
            source=source, src_lang=src_lang, tgt_lang=tgt_lang, config=config,
            split_stems=split_stems, streaming=streaming, vocab_size=vocab_size,
            joint_vocab=joint_vocab, tokenizer_type=tokenizer_type,
            character_coverage=character_coverage, tokenizer_sample_size=tokenizer_sample_size,
            max_length=max_length, seed=seed, demo_sizes=demo_sizes, num_proc=num_proc,
            cache_root=Path(cache_dir) if cache_dir else default_cache_dir())
        self._tokenizers: TokenizerPair | None = None
        self._splits: dict[str, datasets.Dataset] = {}
        self._references: dict[str, list[str]] = {}

    # ---- preparation ------------------------------------------------------------------

    def prepare_data(self) -> None:
        self.preparation.prepare()

    # ---- what the model and the training module need -----------------------------------

    @property
    def tokenizers(self) -> TokenizerPair:
        if self._tokenizers is None:
            self._tokenizers = self.preparation.tokenizers()
        return self._tokenizers

    @property
    def src_vocab_size(self) -> int:
        return self.tokenizers.source.vocab_size

    @property
    def tgt_vocab_size(self) -> int:
        return self.tokenizers.target.vocab_size

    def setup(self, stage: str | None = None) -> None:
        for split in SPLITS:
            if split == "train" and self.hparams.streaming:
                continue
            if split not in self._splits:
                self._splits[split] = self.preparation.prepared_split(split)

    def references(self, split: str) -> list[str]:
        """The raw (detokenized) target sentences of a split, in corpus order."""
        if split not in self._references:
            self.setup()
            self._references[split] = list(self._splits[split]["tgt"])
        return self._references[split]

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
    pair = tokenizers_from(tokenizers)
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
        stream = self.data.preparation.load_raw(streaming=True)["train"]
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
            if self.data.preparation.keeps(src, tgt):
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
