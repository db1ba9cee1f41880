"""``seq2seq-train``: LightningCLI over TranslationModule and TranslationDataModule.

    seq2seq-train fit --config configs/demo.yaml [--trainer.* ...] [--model.* ...] [--data.* ...]
    seq2seq-train validate|test --config configs/demo.yaml --ckpt_path runs/demo/best.ckpt

Checkpoints go to ``<trainer.default_root_dir>/checkpoints`` (best by validation BLEU, and
``last.ckpt``), the best is also copied to ``<trainer.default_root_dir>/best.ckpt``; the
resolved config is written to ``<root>/config.yaml``, CSV metrics to
``<root>/logs/version_N/metrics.csv`` and TensorBoard logs to ``<root>/tensorboard`` (a
new version per run, so a resumed run keeps the logs of the first).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.cli import LightningCLI, SaveConfigCallback
from pytorch_lightning.utilities import rank_zero_only

from seq2seq.datamodule import TranslationDataModule
from seq2seq.module import TranslationModule

BEST_NAME = "best.ckpt"


class BestCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that also keeps a copy of the best checkpoint at ``<root>/best.ckpt``,
    and writes ``last.ckpt`` after every validation (at every train epoch end where
    checkpoints are taken there instead), also when ``every_n_epochs`` skips the top-k.

    pytorch-lightning 2.6 writes ``last.ckpt`` only when it also writes a top-k checkpoint:
    after validations that do not improve, ``last.ckpt`` would hold an older state and
    resuming from it would silently drop the epochs since. ``save_last="link"`` has the
    same flaw (the link stays on the older file) and is refused.
    """

    _copied: str = ""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.save_last == "link":
            raise ValueError("checkpoint.save_last: 'link' is not supported (last.ckpt would stay "
                             "linked to the best checkpoint, not the last state); use true")

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)
        self._copy_best(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)
        self._copy_best(trainer)

    def _save_last_if_missed(self, trainer) -> None:
        """Write last.ckpt now unless this step was already saved (or saving is off)."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    @rank_zero_only
    def _copy_best(self, trainer) -> None:
        best = self.best_model_path
        if not best or best == self._copied or not os.path.exists(best):
            return
        target = Path(trainer.default_root_dir) / BEST_NAME
        partial = target.with_name(BEST_NAME + ".partial")
        shutil.copyfile(best, partial)
        os.replace(partial, target)
        self._copied = best

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        target = Path(trainer.default_root_dir) / BEST_NAME
        if self.best_model_score is not None and target.exists():
            print(f"\nbest checkpoint: {target} (from {self.best_model_path})", flush=True)
            print(f"best validation {self.monitor}: {float(self.best_model_score):.2f}", flush=True)


class SaveConfigBesideCheckpoints(SaveConfigCallback):
    """Writes the resolved config to ``<trainer.default_root_dir>/config.yaml`` (not a log dir)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.already_saved:
            return
        if trainer.is_global_zero:
            root = Path(trainer.default_root_dir)
            root.mkdir(parents=True, exist_ok=True)
            self.parser.save(self.config, root / self.config_filename, skip_none=False,
                             overwrite=True, multifile=self.multifile)
        self.already_saved = trainer.strategy.broadcast(True)


class Seq2SeqCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.src_vocab_size", "model.src_vocab_size", apply_on="instantiate")
        parser.link_arguments("data.tgt_vocab_size", "model.tgt_vocab_size", apply_on="instantiate")
        parser.add_lightning_class_args(BestCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val_bleu",
            "checkpoint.mode": "max",
            "checkpoint.save_last": True,
            "checkpoint.save_top_k": 1,
            "checkpoint.filename": "best-epoch{epoch}-step{step}-bleu{val_bleu:.2f}",
            "checkpoint.auto_insert_metric_name": False,
        })
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({
            "early_stopping.monitor": "val_bleu",
            "early_stopping.mode": "max",
            "early_stopping.patience": 5,
            "early_stopping.strict": False,  # runs that stop mid-epoch have no val_bleu yet
        })

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        root = config.trainer.default_root_dir or "runs/default"
        config.trainer.default_root_dir = root
        if config.get("checkpoint") is not None and not config.checkpoint.dirpath:
            config.checkpoint.dirpath = str(Path(root) / "checkpoints")
        if config.trainer.logger in (None, True):
            config.trainer.logger = [
                {"class_path": "pytorch_lightning.loggers.CSVLogger",
                 "init_args": {"save_dir": root, "name": "logs"}},
                {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                 "init_args": {"save_dir": root, "name": "tensorboard"}},
            ]


def main(args: list[str] | None = None) -> None:
    Seq2SeqCLI(
        TranslationModule,
        TranslationDataModule,
        save_config_callback=SaveConfigBesideCheckpoints,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"use_distributed_sampler": False},
        args=args,
        parser_kwargs={"prog": "seq2seq-train"},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
