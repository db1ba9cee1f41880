import random
from collections import Counter
from itertools import pairwise

import pytest
import torch
from torch.utils.data import DataLoader

from seq2seq.batching import (
    Batch,
    TokenBucketBatchSampler,
    bucket_boundaries,
    bucket_pad_length,
    collate_pairs,
    pad_sequences,
    padded_length,
    token_budget_batches,
)
from seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

BOUNDARIES = [8, 12, 16, 24, 32, 48]
MAX_TOKENS = 100


def random_lengths(count: int = 600, seed: int = 0, longest: int = 48) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, longest) for _ in range(count)]


def sampler(lengths=None, **kwargs) -> TokenBucketBatchSampler:
    options = {"max_tokens": MAX_TOKENS, "boundaries": BOUNDARIES} | kwargs
    if "batch_size" in kwargs:
        options.pop("max_tokens")
    return TokenBucketBatchSampler(random_lengths() if lengths is None else lengths, **options)


def epoch(batch_sampler: TokenBucketBatchSampler, number: int = 0) -> list[list[int]]:
    batch_sampler.set_epoch(number)
    return list(batch_sampler)


# ---- padding and collation ---------------------------------------------------------------

def test_special_ids():
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)


def test_pad_sequences_values_and_lengths():
    ids, lengths = pad_sequences([[5, 6, 7], [8], [9, 10]])
    assert ids.dtype == lengths.dtype == torch.long
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]


def test_pad_sequences_pad_id_and_pad_to():
    ids, lengths = pad_sequences([[5, 6], [7]], pad_id=-1, pad_to=4)
    assert ids.tolist() == [[5, 6, -1, -1], [7, -1, -1, -1]]
    assert lengths.tolist() == [2, 1]
    with pytest.raises(ValueError, match="sequence 1 has length 3"):
        pad_sequences([[5], [6, 7, 8]], pad_to=2)


def test_pad_sequences_zero_length():
    ids, lengths = pad_sequences([[], [4, 5], []])
    assert ids.tolist() == [[0, 0], [4, 5], [0, 0]]
    assert lengths.tolist() == [0, 2, 0]
    ids, lengths = pad_sequences([[], []])
    assert ids.shape == (2, 0) and lengths.tolist() == [0, 0]
    ids, lengths = pad_sequences([])
    assert ids.shape == (0, 0) and lengths.shape == (0,)


def test_collate_pairs_places_bos_and_eos():
    batch = collate_pairs([{"src_ids": [10, 11, 12], "tgt_ids": [20], "index": 7},
                           {"src_ids": [13], "tgt_ids": [21, 22, 23], "index": 2}])
    assert batch.src.tolist() == [[10, 11, 12], [13, 0, 0]]
    assert batch.src_lengths.tolist() == [3, 1]
    assert batch.tgt_in.tolist() == [[BOS_ID, 20, 0, 0], [BOS_ID, 21, 22, 23]]
    assert batch.tgt_out.tolist() == [[20, EOS_ID, 0, 0], [21, 22, 23, EOS_ID]]
    assert batch.tgt_lengths.tolist() == [2, 4]
    assert batch.index.tolist() == [7, 2]
    assert len(batch) == 2 and batch.num_tgt_tokens == 6


def test_collate_pairs_tgt_out_is_tgt_in_shifted_left():
    rng = random.Random(1)
    examples = [{"src_ids": [4] * rng.randint(0, 9),
                 "tgt_ids": [rng.randint(4, 50) for _ in range(rng.randint(0, 9))],
                 "index": i} for i in range(16)]
    batch = collate_pairs(examples)
    for row, length in enumerate(batch.tgt_lengths.tolist()):
        tgt_in, tgt_out = batch.tgt_in[row], batch.tgt_out[row]
        assert tgt_in[0] == BOS_ID and tgt_out[length - 1] == EOS_ID
        assert tgt_in[1:length].tolist() == tgt_out[:length - 1].tolist()
        assert (tgt_in[length:] == PAD_ID).all() and (tgt_out[length:] == PAD_ID).all()


def test_collate_pairs_fixed_shapes():
    batch = collate_pairs([{"src_ids": [4, 5], "tgt_ids": [6], "index": 0}],
                          src_pad_to=8, tgt_pad_to=12)
    assert batch.src.shape == (1, 8) and batch.tgt_in.shape == batch.tgt_out.shape == (1, 12)
    assert batch.src_lengths.tolist() == [2] and batch.tgt_lengths.tolist() == [2]


def test_collate_pairs_source_only():
    batch = collate_pairs([{"src_ids": [4, 5], "index": 0}, {"src_ids": [6], "tgt_ids": None,
                                                             "index": 1}])
    assert batch.tgt_in is None and batch.tgt_out is None and batch.tgt_lengths is None
    assert batch.src.tolist() == [[4, 5], [6, 0]] and batch.num_tgt_tokens == 0
    with pytest.raises(ValueError, match="tgt_ids"):
        collate_pairs([{"src_ids": [4], "index": 0}, {"src_ids": [5], "tgt_ids": [6], "index": 1}])


def test_batch_to_moves_every_tensor():
    batch = collate_pairs([{"src_ids": [4, 5], "tgt_ids": [6], "index": 3}])
    moved = batch.to(torch.device("meta"))
    assert isinstance(moved, Batch)
    assert all(getattr(moved, name).device.type == "meta"
               for name in ("src", "src_lengths", "tgt_in", "tgt_out", "tgt_lengths", "index"))
    assert batch.src.device.type == "cpu"
    source_only = collate_pairs([{"src_ids": [4], "index": 0}]).to("meta")
    assert source_only.src.device.type == "meta" and source_only.tgt_in is None


# ---- buckets -------------------------------------------------------------------------------

@pytest.mark.parametrize("max_length", [1, 7, 8, 9, 50, 101, 256])
def test_bucket_boundaries_increase_to_max_length(max_length):
    boundaries = bucket_boundaries(max_length)
    assert boundaries[-1] == max_length
    assert all(a < b for a, b in pairwise(boundaries))
    assert all(boundary % 4 == 0 for boundary in boundaries[:-1])
    assert all(b <= max(a + 4, a * 1.25 + 4) for a, b in pairwise(boundaries[:-1]))


def test_bucket_boundaries_example():
    assert bucket_boundaries(101) == [8, 12, 16, 20, 28, 36, 48, 60, 76, 96, 101]
    assert bucket_boundaries(40, min_bucket=10, growth=2.0, step=5) == [10, 20, 40]


def test_bucket_pad_length():
    assert [bucket_pad_length(n, BOUNDARIES) for n in (0, 1, 8, 9, 47, 48)] == [
        8, 8, 8, 12, 48, 48]
    with pytest.raises(ValueError, match="49"):
        bucket_pad_length(49, BOUNDARIES)


# ---- the sampler ---------------------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("budget", [{"max_tokens": MAX_TOKENS}, {"batch_size": 7}])
def test_every_example_exactly_once_per_epoch(shuffle, budget):
    lengths = random_lengths()
    batch_sampler = sampler(lengths, shuffle=shuffle, **budget)
    for number in (0, 1):
        batches = epoch(batch_sampler, number)
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
        assert len(batches) == len(batch_sampler)


def test_token_budget_respected_and_batches_stay_in_one_bucket():
    lengths = random_lengths()
    for batch in epoch(sampler(lengths)):
        buckets = {bucket_pad_length(lengths[i], BOUNDARIES) for i in batch}
        assert len(buckets) == 1
        assert len(batch) * buckets.pop() <= MAX_TOKENS


def test_example_longer_than_budget_gets_a_batch_of_its_own():
    lengths = [5, 40, 6, 45, 7]
    batches = epoch(sampler(lengths, max_tokens=30))
    assert sorted(sorted(batch) for batch in batches) == [[0, 2, 4], [1], [3]]


def test_batch_size_mode_counts_sentences():
    lengths = random_lengths()
    batch_sampler = sampler(lengths, batch_size=7)
    assert batch_sampler.batch_shapes() == [7] * len(BOUNDARIES)
    sizes = Counter(len(batch) for batch in epoch(batch_sampler))
    assert max(sizes) == 7 and sum(count for size, count in sizes.items() if size < 7) <= 6


def test_bucket_batches_have_the_bucket_batch_size_except_the_last():
    lengths = random_lengths()
    batch_sampler = sampler(lengths)
    shapes = dict(zip(BOUNDARIES, batch_sampler.batch_shapes()))
    assert shapes == {8: 12, 12: 8, 16: 6, 24: 4, 32: 3, 48: 2}
    for bucket, size in shapes.items():
        members = sum(bucket_pad_length(n, BOUNDARIES) == bucket for n in lengths)
        sizes = [len(batch) for batch in epoch(batch_sampler)
                 if bucket_pad_length(lengths[batch[0]], BOUNDARIES) == bucket]
        assert sorted(sizes, reverse=True)[:-1] == [size] * (len(sizes) - 1)
        assert sum(sizes) == members


def test_shuffle_is_deterministic_per_seed_and_epoch():
    first, again = sampler(seed=3), sampler(seed=3)
    assert epoch(first, 0) == epoch(again, 0)
    assert epoch(first, 1) == epoch(again, 1)
    assert epoch(first, 0) != epoch(first, 1)
    assert epoch(sampler(seed=3), 0) != epoch(sampler(seed=4), 0)


def test_shuffle_mixes_the_order_of_buckets():
    lengths = random_lengths()
    buckets = [bucket_pad_length(lengths[batch[0]], BOUNDARIES) for batch in epoch(sampler())]
    assert buckets != sorted(buckets)
    assert len(set(buckets[:10])) > 1


def test_without_shuffle_batches_come_sorted_by_length():
    lengths = random_lengths()
    batch_sampler = sampler(lengths, shuffle=False)
    order = [i for batch in epoch(batch_sampler, 0) for i in batch]
    assert order == sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    assert epoch(batch_sampler, 5) == epoch(batch_sampler, 0)


def test_default_boundaries_cover_the_longest_example():
    lengths = random_lengths(longest=90)
    batch_sampler = TokenBucketBatchSampler(lengths, max_tokens=400)
    assert batch_sampler.boundaries == bucket_boundaries(max(lengths))
    assert sorted(i for batch in batch_sampler for i in batch) == list(range(len(lengths)))


def test_too_long_example_is_named():
    with pytest.raises(ValueError, match="example 2 has length 49"):
        sampler([3, 48, 49, 60])


@pytest.mark.parametrize("kwargs", [{}, {"max_tokens": 10, "batch_size": 2}, {"max_tokens": 0},
                                    {"batch_size": 4, "num_replicas": 2, "rank": 2},
                                    {"batch_size": 4, "boundaries": [8, 8]}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        TokenBucketBatchSampler([3, 4], **kwargs)


@pytest.mark.parametrize("replicas", [2, 3])
def test_replicas_get_disjoint_batches_covering_every_example(replicas):
    lengths = random_lengths(count=203)
    whole = epoch(sampler(lengths, seed=9), 2)
    ranks = [epoch(sampler(lengths, seed=9, num_replicas=replicas, rank=rank), 2)
             for rank in range(replicas)]
    assert len({len(batches) for batches in ranks}) == 1
    assert all(len(batches) == len(sampler(lengths, num_replicas=replicas, rank=rank))
               for rank, batches in enumerate(ranks))
    repeats = -len(whole) % replicas
    interleaved = [batch for step in zip(*ranks) for batch in step]
    assert interleaved == whole + whole[:repeats]
    seen = Counter(i for batches in ranks for batch in batches for i in batch)
    assert set(seen) == set(range(len(lengths)))
    assert sum(seen.values()) == len(lengths) + sum(len(batch) for batch in whole[:repeats])


def test_fewer_batches_than_replicas_are_repeated():
    ranks = [list(sampler([3, 4], num_replicas=3, rank=rank)) for rank in range(3)]
    assert ranks == [[[0, 1]]] * 3


@pytest.mark.parametrize("replicas", [1, 2])
def test_resume_continues_with_the_remaining_batches(replicas):
    lengths = random_lengths()
    original = sampler(lengths, seed=5, num_replicas=replicas, rank=replicas - 1)
    original.set_epoch(3)
    iterator = iter(original)
    consumed = [next(iterator) for _ in range(7)]
    state = original.state_dict()
    assert state == {"epoch": 3, "batches_yielded": 7, "epoch_offset": 0}
    remainder = list(iterator)

    resumed = sampler(lengths, seed=5, num_replicas=replicas, rank=replicas - 1)
    resumed.load_state_dict(state)
    resumed.set_epoch(3)
    assert list(resumed) == remainder
    assert resumed.state_dict() == {"epoch": 3, "batches_yielded": len(consumed + remainder),
                                    "epoch_offset": 0}
    assert list(resumed) == consumed + remainder


def test_a_cut_epoch_is_finished_before_the_trainer_s_next_one():
    """Lightning counts an epoch stopped by max_steps as done and asks for the next."""
    straight = sampler(seed=2)
    epochs = [epoch(straight, number) for number in range(3)]
    resumed = sampler(seed=2)
    resumed.load_state_dict({"epoch": 0, "batches_yielded": 5, "epoch_offset": 0})
    resumed.set_epoch(1)  # the trainer's number for what continues epoch 0
    assert list(resumed) == epochs[0][5:]
    assert resumed.state_dict() == {"epoch": 0, "batches_yielded": len(epochs[0]),
                                    "epoch_offset": 1}
    assert epoch(resumed, 2) == epochs[1] and epoch(resumed, 3) == epochs[2]
    again = sampler(seed=2)  # resumed again from an epoch end: the offset is kept
    again.load_state_dict(resumed.state_dict())
    assert epoch(again, 4) == epoch(sampler(seed=2), 3)


def test_a_new_epoch_after_a_finished_one_starts_afresh():
    batch_sampler = sampler()
    batch_sampler.load_state_dict({"epoch": 0, "batches_yielded": len(batch_sampler)})
    batch_sampler.set_epoch(1)
    assert batch_sampler.state_dict() == {"epoch": 1, "batches_yielded": 0, "epoch_offset": 0}
    assert len(list(batch_sampler)) == len(batch_sampler)


def test_works_as_a_dataloader_batch_sampler():
    lengths = [3, 9, 2, 14, 5]
    examples = [{"src_ids": [7] * n, "tgt_ids": [8] * (n - 1), "index": i}
                for i, n in enumerate(lengths)]
    loader = DataLoader(examples, batch_sampler=sampler(lengths, shuffle=False),
                        collate_fn=collate_pairs)
    batches = list(loader)
    assert all(isinstance(batch, Batch) for batch in batches)
    assert sorted(i for batch in batches for i in batch.index.tolist()) == list(range(5))
    for batch in batches:
        assert batch.src_lengths.tolist() == [lengths[i] for i in batch.index.tolist()]


def test_token_budget_batches_cut_sorted_sizes_greedily():
    sizes = [5, 1, 9, 3, 3, 40, 2]  # sorted stably: indices 1, 6, 3, 4, 0, 2, 5
    assert token_budget_batches(sizes, max_tokens=10) == [[1, 6, 3], [4, 0], [2], [5]]
    assert token_budget_batches(sizes, batch_size=3) == [[1, 6, 3], [4, 0, 2], [5]]
    assert token_budget_batches([0, 0, 0], max_tokens=2) == [[0, 1], [2]]  # empty counts as 1
    assert token_budget_batches([], max_tokens=5) == []
    with pytest.raises(ValueError, match="give exactly one of max_tokens and batch_size"):
        token_budget_batches(sizes, max_tokens=10, batch_size=3)


def test_padded_length_counts_bos_or_eos_on_the_target():
    assert [padded_length(5, 3), padded_length(3, 3), padded_length(0, 0)] == [5, 4, 1]
