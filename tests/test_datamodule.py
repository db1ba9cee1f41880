"""The data module's training loaders, outside a Trainer: prepared splits and streaming."""

from __future__ import annotations

import pytest

from seq2seq.batching import padded_length
from seq2seq.cli import main
from seq2seq.datamodule import TranslationDataModule


@pytest.fixture(scope="module")
def streaming(tmp_path_factory) -> TranslationDataModule:
    cache = tmp_path_factory.mktemp("cache")
    data = TranslationDataModule(source="demo", demo_sizes={"train": 300, "validation": 20,
                                                            "test": 20},
                                 vocab_size=200, max_tokens=300, streaming=True,
                                 cache_dir=str(cache))
    data.prepare_data()
    data.setup("fit")
    return data


def epoch_batches(data: TranslationDataModule, epoch: int) -> list:
    loader = data.train_dataloader()
    loader.dataset.set_epoch(epoch)
    return list(loader)


def test_streamed_training_batches_hold_every_pair_once_within_the_token_budget(streaming):
    batches = epoch_batches(streaming, 0)
    indices = sorted(i for batch in batches for i in batch.index.tolist())
    assert indices == list(range(300))  # the demo's training pairs all have both sides
    for batch in batches:
        lengths = [padded_length(int(s), int(t) - 1)
                   for s, t in zip(batch.src_lengths, batch.tgt_lengths)]
        assert len(batch) == 1 or max(lengths) * len(batch) <= 300


def test_streamed_batch_order_follows_the_epoch_and_the_seed(streaming):
    first = [batch.index.tolist() for batch in epoch_batches(streaming, 0)]
    again = [batch.index.tolist() for batch in epoch_batches(streaming, 0)]
    second = [batch.index.tolist() for batch in epoch_batches(streaming, 1)]
    assert first == again
    assert first != second
    assert sorted(map(sorted, first)) == sorted(map(sorted, second))  # the same batches


def test_a_streamed_corpus_trains_and_validates_through_the_command(tmp_path):
    from test_training import fit_args, metrics_rows  # the training tests' tiny set-up

    root = tmp_path / "run"
    assert main(fit_args(root, tmp_path / "cache", "--data.streaming", "true",
                         "--trainer.max_epochs", "1")) == 0
    rows = [row for row in metrics_rows(root) if row.get("val_bleu")]
    assert len(rows) == 1 and (root / "best.ckpt").is_file()
