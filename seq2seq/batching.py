"""Token-id sequences to padded tensor batches, grouped by length into a few fixed shapes.

Sources are used as given; targets become ``tgt_in`` = BOS + target and ``tgt_out`` =
target + EOS (the ids are :mod:`seq2seq.vocab`'s).

Batching is built for a small fixed set of shapes (one CUDA graph per shape on GPUs):
lengths fall into fixed buckets (:func:`bucket_boundaries`) and each bucket has a fixed
batch size, ``max_tokens // bucket_length``. Collating with ``src_pad_to``/``tgt_pad_to``
set to the bucket's length (:func:`bucket_pad_length`) fixes the time dimension too; without
them a batch is padded only to its longest sequence, which is cheaper on CPUs.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from itertools import chain, pairwise

import torch
from torch import Tensor
from torch.utils.data import Sampler

from seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Batch:
    """A padded batch of B examples; the target fields are None for source-only batches.

    Attributes:
        src: (B, S) source ids, right-padded with PAD_ID.
        src_lengths: (B,) true source lengths.
        tgt_in: (B, T) BOS + target ids, right-padded with PAD_ID.
        tgt_out: (B, T) target ids + EOS, right-padded with PAD_ID.
        tgt_lengths: (B,) len(target) + 1, the real positions of ``tgt_in``/``tgt_out``.
        index: (B,) position of each example in its dataset.
    """

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor | None
    tgt_out: Tensor | None
    tgt_lengths: Tensor | None
    index: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on ``device`` (used by Lightning's batch transfer)."""
        return self._map(lambda tensor: tensor.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Batch:
        """A copy in pinned memory (used by ``DataLoader(pin_memory=True)``)."""
        return self._map(Tensor.pin_memory)

    def _map(self, function) -> Batch:
        changes = {f.name: function(getattr(self, f.name)) for f in fields(self)
                   if getattr(self, f.name) is not None}
        return replace(self, **changes)

    @property
    def num_tgt_tokens(self) -> int:
        """Real target tokens (EOS included) that the loss is computed on; 0 without targets."""
        return int(self.tgt_lengths.sum()) if self.tgt_lengths is not None else 0

    def __len__(self) -> int:
        return self.src.shape[0]


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int = PAD_ID,
                  pad_to: int | None = None) -> tuple[Tensor, Tensor]:
    """Right-pad id sequences into one tensor.

    Args:
        seqs: B sequences of ids; empty sequences are allowed.
        pad_id: the filler.
        pad_to: the padded length L; by default the longest sequence's length.

    Returns:
        ids (B, L) long and lengths (B,) long.

    Raises:
        ValueError: a sequence is longer than ``pad_to``.
    """
    lengths = torch.tensor([len(seq) for seq in seqs], dtype=torch.long)
    longest = int(lengths.max()) if len(seqs) else 0
    if pad_to is not None and longest > pad_to:
        position = int(torch.argmax(lengths))
        raise ValueError(f"sequence {position} has length {longest}, longer than pad_to={pad_to}")
    width = longest if pad_to is None else pad_to
    padded = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    real = torch.arange(width) < lengths.unsqueeze(1)
    padded[real] = torch.tensor(list(chain.from_iterable(seqs)), dtype=torch.long)
    return padded, lengths


def padded_length(src_length: int, tgt_length: int) -> int:
    """Time steps a pair takes in a batch: its source, or its target with BOS (or EOS)."""
    return max(src_length, tgt_length + 1)


def token_budget_batches(sizes: Sequence[int], max_tokens: int | None = None,
                         batch_size: int | None = None) -> list[list[int]]:
    """Indices of ``sizes`` sorted by size (stably), cut greedily into batches of at most
    ``max_tokens`` padded tokens (largest size × count) or ``batch_size`` items.

    For data that is batched once as it comes (decoding, a streamed training buffer); the
    training split of a prepared corpus uses :class:`TokenBucketBatchSampler`'s fixed
    shapes. An item larger than the budget gets a batch of its own.
    """
    _check_budget(max_tokens, batch_size)
    batches: list[list[int]] = []
    batch: list[int] = []
    for index in sorted(range(len(sizes)), key=sizes.__getitem__):
        full = (max(sizes[index], 1) * (len(batch) + 1) > max_tokens if max_tokens is not None
                else len(batch) == batch_size)
        if batch and full:
            batches.append(batch)
            batch = []
        batch.append(index)
    if batch:
        batches.append(batch)
    return batches


def collate_pairs(examples: Sequence[dict], src_pad_to: int | None = None,
                  tgt_pad_to: int | None = None) -> Batch:
    """Examples ``{"src_ids", "tgt_ids", "index"}`` to a :class:`Batch`.

    ``tgt_ids`` may be absent or None in every example (a source-only batch, target fields
    None), but not in only some. ``src_pad_to`` pads ``src`` to (B, src_pad_to) and
    ``tgt_pad_to`` pads ``tgt_in``/``tgt_out`` to (B, tgt_pad_to), for fixed shapes.
    """
    src, src_lengths = pad_sequences([example["src_ids"] for example in examples],
                                     pad_to=src_pad_to)
    index = torch.tensor([example["index"] for example in examples], dtype=torch.long)
    targets = [example.get("tgt_ids") for example in examples]
    if all(target is None for target in targets):
        return Batch(src, src_lengths, None, None, None, index)
    if any(target is None for target in targets):
        raise ValueError("either every example of a batch has tgt_ids or none has")
    tgt_in, tgt_lengths = pad_sequences([[BOS_ID, *target] for target in targets],
                                        pad_to=tgt_pad_to)
    tgt_out, _ = pad_sequences([[*target, EOS_ID] for target in targets], pad_to=tgt_pad_to)
    return Batch(src, src_lengths, tgt_in, tgt_out, tgt_lengths, index)


def bucket_boundaries(max_length: int, min_bucket: int = 8, growth: float = 1.25,
                      step: int = 4) -> list[int]:
    """Increasing bucket lengths that end exactly at ``max_length``.

    Starting at ``min_bucket`` rounded up to a multiple of ``step``, each next boundary is
    the previous one times ``growth`` rounded up to a multiple of ``step`` (and at least one
    ``step`` more), so padding within a bucket wastes at most about ``1 - 1/growth`` of it;
    the last boundary is ``max_length`` itself. With the defaults and ``max_length=101``:
    ``[8, 12, 16, 20, 28, 36, 48, 60, 76, 96, 101]``.
    """
    if max_length < 1 or min_bucket < 1 or step < 1 or growth < 1:
        raise ValueError("bucket_boundaries needs max_length, min_bucket, step >= 1 and "
                         f"growth >= 1, got {max_length}, {min_bucket}, {step}, {growth}")
    boundaries = []
    boundary = _round_up(min_bucket, step)
    while boundary < max_length:
        boundaries.append(boundary)
        boundary = max(boundary + step, _round_up(math.ceil(boundary * growth), step))
    return [*boundaries, max_length]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def bucket_pad_length(length: int, boundaries: Sequence[int]) -> int:
    """The smallest boundary >= ``length``: the padded length of its bucket."""
    position = bisect.bisect_left(boundaries, length)
    if position == len(boundaries):
        raise ValueError(f"length {length} is longer than the largest bucket ({boundaries[-1]})")
    return boundaries[position]


class TokenBucketBatchSampler(Sampler[list[int]]):
    """Groups examples of similar length into batches of at most ``max_tokens`` padded tokens.

    Each example goes to the smallest bucket (boundary) >= its length. A bucket of length
    L has the fixed batch size ``max(1, max_tokens // L)`` (or ``batch_size`` sentences),
    so every batch holds at most ``max_tokens`` padded tokens even when padded to L, unless
    one example alone is longer (then it is a batch of one). Only a bucket's last batch may
    be smaller. :meth:`batch_shapes` lists the sizes, one per boundary.

    With ``shuffle`` the examples within each bucket and the order of all batches are
    shuffled by a ``torch.Generator`` seeded with ``seed + epoch`` (see :meth:`set_epoch`);
    without, examples come sorted by (length, index), shortest bucket first, the same every
    epoch (use ``Batch.index`` to restore input order).

    Under DDP every rank builds the same global list and rank r takes batches r, r + R, ...
    To keep ranks in lockstep the list is first padded to a multiple of R by repeating its
    first batches, so up to R - 1 batches (and their examples) are seen twice per epoch.

    The position within an epoch can be saved and restored (:meth:`state_dict`,
    :meth:`load_state_dict`) to resume exactly where training stopped.

    Args:
        lengths: per example, the padded length that matters, e.g. max(src, tgt + 1).
        max_tokens: padded-token budget per batch; give exactly one of it and batch_size.
        batch_size: sentences per batch.
        boundaries: increasing bucket lengths; by default :func:`bucket_boundaries` of the
            longest example.
    """

    def __init__(self, lengths: Sequence[int], max_tokens: int | None = None,
                 batch_size: int | None = None, boundaries: Sequence[int] | None = None,
                 shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        _check_budget(max_tokens, batch_size)
        _check_replicas(num_replicas, rank)
        self.lengths = torch.as_tensor(lengths, dtype=torch.long).reshape(-1)
        if boundaries is None:
            longest = max(self.lengths.tolist(), default=0)
            boundaries = bucket_boundaries(max(longest, 1))
        self.boundaries = _checked_boundaries(boundaries)
        self.max_tokens, self.batch_size = max_tokens, batch_size
        self.shuffle, self.seed = shuffle, seed
        self.num_replicas, self.rank = num_replicas, rank
        self._buckets = _sorted_buckets(self.lengths, self.boundaries)
        self._bucket_batch_sizes = self.batch_shapes()
        self.epoch = self.epoch_offset = 0
        self.batches_yielded = 0
        self._skip_batches = 0
        self._finishing_cut_epoch = False

    def batch_shapes(self) -> list[int]:
        """The fixed batch size of each bucket, aligned with ``self.boundaries``."""
        if self.batch_size is not None:
            return [self.batch_size] * len(self.boundaries)
        return [max(1, self.max_tokens // boundary) for boundary in self.boundaries]

    @property
    def sampler(self) -> TokenBucketBatchSampler:
        """Itself. Lightning sets the epoch of ``dataloader.batch_sampler.sampler`` before
        every epoch, where a batch sampler usually keeps its index sampler; this one orders
        its batches itself."""
        return self

    def set_epoch(self, epoch: int) -> None:
        """Choose the shuffle of the trainer's epoch ``epoch`` (Lightning calls this).

        A run stopped mid-epoch (``max_steps``, ``max_time``) is counted by Lightning as
        having finished that epoch, so after :meth:`load_state_dict` of a cut epoch the
        trainer asks for the next one: the sampler finishes the cut epoch first and keeps
        the difference (``epoch_offset``), so that a resumed run sees exactly the batches
        of an uninterrupted one.
        """
        if self._finishing_cut_epoch:
            self._finishing_cut_epoch = False
            self.epoch_offset = epoch - self.epoch
            return
        epoch -= self.epoch_offset
        if epoch != self.epoch:
            self.epoch = epoch
            self.batches_yielded = self._skip_batches = 0

    def state_dict(self) -> dict:
        """``{"epoch", "batches_yielded", "epoch_offset"}``: this sampler's epoch, its batches
        handed out on this rank, and the trainer's epoch number minus this one's."""
        return {"epoch": self.epoch, "batches_yielded": self.batches_yielded,
                "epoch_offset": self.epoch_offset}

    def load_state_dict(self, state: dict) -> None:
        """Continue a saved epoch: the next iteration skips the batches already yielded."""
        self.epoch, self.epoch_offset = state["epoch"], state.get("epoch_offset", 0)
        self.batches_yielded = self._skip_batches = state["batches_yielded"]
        self._finishing_cut_epoch = 0 < self._skip_batches < len(self)

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._rank_batches()
        skip, self._skip_batches = self._skip_batches, 0
        self.batches_yielded = skip
        for batch in batches[skip:]:
            self.batches_yielded += 1
            yield batch

    def __len__(self) -> int:
        """Batches this rank yields in a whole epoch (a pending resume skip not subtracted)."""
        total = sum(math.ceil(len(bucket) / size)
                    for bucket, size in zip(self._buckets, self._bucket_batch_sizes))
        return math.ceil(total / self.num_replicas)

    def _rank_batches(self) -> list[list[int]]:
        batches = self._global_batches()
        remainder = len(batches) % self.num_replicas
        if remainder:
            missing = self.num_replicas - remainder
            batches += [batches[i % len(batches)] for i in range(missing)]
        return batches[self.rank::self.num_replicas]

    def _global_batches(self) -> list[list[int]]:
        """Every rank's batches of this epoch, in order."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch) if self.shuffle else None
        batches = []
        for bucket, size in zip(self._buckets, self._bucket_batch_sizes):
            if generator is not None:
                bucket = bucket[torch.randperm(len(bucket), generator=generator)]
            batches += [chunk.tolist() for chunk in bucket.split(size) if len(chunk)]
        if generator is not None:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator)]
        return batches


def _check_budget(max_tokens: int | None, batch_size: int | None) -> None:
    if (max_tokens is None) == (batch_size is None):
        raise ValueError("give exactly one of max_tokens and batch_size")
    budget = max_tokens if max_tokens is not None else batch_size
    if budget < 1:
        raise ValueError(f"max_tokens/batch_size must be positive, got {budget}")


def _check_replicas(num_replicas: int, rank: int) -> None:
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"need num_replicas >= 1 and 0 <= rank < num_replicas, "
                         f"got num_replicas={num_replicas}, rank={rank}")


def _checked_boundaries(boundaries: Sequence[int]) -> list[int]:
    boundaries = [int(boundary) for boundary in boundaries]
    increasing = all(a < b for a, b in pairwise(boundaries))
    if not boundaries or boundaries[0] < 1 or not increasing:
        raise ValueError(f"boundaries must be positive and increasing, got {boundaries}")
    return boundaries


def _sorted_buckets(lengths: Tensor, boundaries: list[int]) -> list[Tensor]:
    """Per boundary, the indices (N_b,) of its examples sorted by (length, index)."""
    if len(lengths) and int(lengths.min()) < 0:
        index = int(torch.argmin(lengths))
        raise ValueError(f"example {index} has negative length {int(lengths[index])}")
    bucket_ids = torch.bucketize(lengths, torch.tensor(boundaries, dtype=torch.long))
    too_long = (bucket_ids == len(boundaries)).nonzero()
    if len(too_long):
        index = int(too_long[0])
        raise ValueError(f"example {index} has length {int(lengths[index])}, longer than the "
                         f"largest bucket ({boundaries[-1]}); filter such examples first")
    order = torch.argsort(lengths, stable=True)
    counts = torch.bincount(bucket_ids, minlength=len(boundaries))
    return list(order.split(counts.tolist()))
