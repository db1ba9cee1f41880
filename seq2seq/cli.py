"""``seq2seq-train``: LightningCLI over TranslationModule and TranslationDataModule.

    seq2seq-train fit --config configs/demo.yaml [--trainer.* ...] [--model.* ...] [--data.* ...]
    seq2seq-train validate|test --config configs/demo.yaml --ckpt_path runs/demo/best.ckpt

Checkpoints go to ``<trainer.default_root_dir>/checkpoints`` (the best 5 by validation BLEU,
``--checkpoint.save_top_k``, and ``last.ckpt``), the best is also copied to
``<trainer.default_root_dir>/best.ckpt``, and at the end of ``fit`` the average of the best
5 (``--checkpoint.average_best``; 1 turns it off) is written to ``<root>/averaged.ckpt``
with its validation BLEU, printed beside the best single checkpoint's; the
resolved config is written to ``<root>/config.yaml``, CSV metrics to
``<root>/logs/version_N/metrics.csv`` and TensorBoard logs to ``<root>/tensorboard`` (a
new version per run, so a resumed run keeps the logs of the first).

Safety:

- Every checkpoint is written atomically (:func:`seq2seq.files.atomic_write`): a
  failed or interrupted write leaves the previous file as it was. None with a NaN or
  infinite weight is written, and a NaN or infinite training loss stops the run.
- ``--ckpt_path`` (fit, validate, test) is read with ``torch.load(weights_only=True)``,
  never unpickled in full; remote URLs are refused.
- A run directory has one writer: every subcommand (validate and test write logs and
  ``config.yaml`` there too) holds ``<root>/.lock`` while it runs, and refuses a directory
  that a live run holds. The lock is an ``flock``, so the system releases it when its
  holder dies, even by SIGKILL. Only the launching process (global rank 0) takes it.
- Bad data, a bad checkpoint, a held run directory, a diverged run or a failed write end
  the command with one line on stderr and exit status 1 (2 for a bad ``--ckpt_path``,
  ``--weights_only false``, an option value a class refuses, or a configuration that
  Lightning refuses).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Literal

import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.cli import LightningCLI, SaveConfigCallback
from pytorch_lightning.plugins import TorchCheckpointIO
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from seq2seq.averaging import average_checkpoints
from seq2seq.checkpoint import (
    CheckpointError,
    first_non_finite,
    model_state_dict,
    read_checkpoint,
    weights_misfit,
)
from seq2seq.commands import EXIT_INPUT_ERROR, EXIT_USAGE_ERROR, fail, loading_checkpoint
from seq2seq.data import DataError
from seq2seq.datamodule import TranslationDataModule
from seq2seq.files import atomic_write
from seq2seq.model import ModelConfig, ModelOptions, Seq2Seq
from seq2seq.module import DivergedError, TranslationModule
from seq2seq.plot.training import AttentionPlotCallback
from seq2seq.runlock import RunDirectoryInUse, RunLock, is_launching_process

PROG = "seq2seq-train"
BEST_NAME = "best.ckpt"
AVERAGED_NAME = "averaged.ckpt"
LIGHTNING_CKPT_NAMES = ("last", "best", "hpc")  # --ckpt_path values Lightning resolves itself
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class BestCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that keeps a copy of the best checkpoint at ``<root>/best.ckpt``, and
    writes ``last.ckpt`` itself at every epoch end, after every validation within an epoch
    (one at an epoch's end is followed by the epoch end's write), and every
    ``every_n_train_steps`` steps. (``train_time_interval`` saves write no ``last.ckpt``.)

    pytorch-lightning 2.6 writes ``last.ckpt`` only when it also writes a top-k checkpoint:
    after validations that do not improve, ``last.ckpt`` would hold an older state and
    resuming from it would silently drop the epochs since. So Lightning's own ``save_last``
    is off here, and ``last.ckpt`` is written through the public ``Trainer.save_checkpoint``.
    ``save_last="link"`` is refused (a link would stay on the older best file).

    At the end of ``fit``, the best ``average_best`` checkpoints kept (at most
    ``save_top_k``) are averaged into ``<root>/averaged.ckpt``, whose validation scores are
    measured as validation measures them, stored in it and printed; ``average_best=1``
    turns this off, and fewer than two kept checkpoints write nothing.
    """

    _copied: str = ""

    def __init__(self, *args, save_last: bool | Literal["link"] | None = None,
                 every_n_train_steps: int | None = None, average_best: int = 5,
                 **kwargs) -> None:
        if save_last == "link":
            raise ValueError("checkpoint.save_last: 'link' is not supported (last.ckpt would stay "
                             "linked to the best checkpoint, not the last state); use true")
        save_top_k = kwargs.get("save_top_k", 1)
        if isinstance(average_best, bool) or not isinstance(average_best, int) or average_best < 1:
            raise ValueError(f"checkpoint.average_best must be a positive integer, got "
                             f"{average_best!r}")
        if average_best > 1 and save_top_k != -1 and average_best > save_top_k:
            raise ValueError(f"checkpoint.average_best {average_best} needs checkpoint.save_top_k "
                             f">= {average_best} (or -1), got {save_top_k}; or set "
                             "checkpoint.average_best 1 to average nothing")
        self.average_best = average_best
        super().__init__(*args, save_last=False, every_n_train_steps=every_n_train_steps,
                         **kwargs)
        self.write_last = bool(save_last)
        self.last_every_n_steps = every_n_train_steps or 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self.last_every_n_steps and trainer.global_step % self.last_every_n_steps == 0:
            self._save_last(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if trainer.state.fn != TrainerFn.FITTING:  # validate/test: write no checkpoint
            return
        if not trainer.is_last_batch:
            self._save_last(trainer)
        self._copy_best(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._save_last(trainer)
        self._copy_best(trainer)

    def _save_last(self, trainer) -> None:
        """Write last.ckpt (every rank calls this: saving is collective)."""
        if not self.write_last or trainer.sanity_checking or trainer.fast_dev_run:
            return
        path = os.path.join(self.dirpath, self.CHECKPOINT_NAME_LAST + self.FILE_EXTENSION)
        trainer.save_checkpoint(path, weights_only=self.save_weights_only)
        self.last_model_path = path

    @rank_zero_only
    def _copy_best(self, trainer) -> None:
        best = self.best_model_path
        if not best or best == self._copied or not os.path.exists(best):
            return
        with open(best, "rb") as source, atomic_write(Path(trainer.default_root_dir) / BEST_NAME) as copy:
            shutil.copyfileobj(source, copy)
        self._copied = best

    def on_fit_end(self, trainer, pl_module) -> None:
        self._report_best(trainer)
        self._average_best(trainer, pl_module)

    @rank_zero_only
    def _report_best(self, trainer) -> None:
        target = Path(trainer.default_root_dir) / BEST_NAME
        if self.best_model_score is not None and target.exists():
            print(f"\nbest checkpoint: {target} (from {self.best_model_path})", flush=True)
            print(f"best validation {self.monitor}: {float(self.best_model_score):.2f}", flush=True)

    def _average_best(self, trainer, pl_module) -> None:
        """Write ``<root>/averaged.ckpt``, the mean of the best ``average_best`` checkpoints
        kept, with its validation scores, and print them beside the best single one's.

        Collective (every rank decodes its share of the validation split), so every rank
        calls it; rank 0 averages the files and writes the result."""
        if self.average_best < 2 or trainer.fast_dev_run:
            return
        weights, count = None, 0
        if trainer.is_global_zero:
            ranked = sorted(self.best_k_models.items(), key=lambda item: float(item[1]),
                            reverse=self.mode == "max")
            paths = [path for path, _ in ranked[:self.average_best] if os.path.exists(path)]
            if len(paths) >= 2:
                averaged = average_checkpoints(paths)
                weights, count = averaged.model.state_dict(), len(paths)
            else:
                print(f"\n{AVERAGED_NAME} not written: {len(paths)} checkpoint(s) kept, "
                      "nothing to average", flush=True)
        weights, count = trainer.strategy.broadcast((weights, count), src=0)
        if weights is None:
            return
        model = Seq2Seq(pl_module.model.config).to(pl_module.device)
        model.load_state_dict(weights)
        scores = pl_module.validation_scores_of(model)
        if trainer.is_global_zero:
            metrics = {f"val_{name}": result["score"] for name, result in scores.items()}
            target = Path(trainer.default_root_dir) / AVERAGED_NAME
            averaged.save(target, {**metrics, "averaged_checkpoints": count})
            print(f"averaged checkpoint: {target} (the best {count}), validation "
                  f"{self.monitor}: {metrics.get(self.monitor, float('nan')):.2f}", flush=True)


class SaveConfigBesideCheckpoints(SaveConfigCallback):
    """Writes the resolved config beside the checkpoints, not into a log dir:
    ``<root>/config.yaml`` for ``fit``, ``<root>/config.<stage>.yaml`` for ``validate``
    and ``test`` (so that they never replace the training run's)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, save_to_log_dir=False, **kwargs)

    def save_config(self, trainer, pl_module, stage: str) -> None:
        stage = TrainerFn(stage).value  # "fit", "validate", "test"
        name = self.config_filename if stage == "fit" else f"config.{stage}.yaml"
        with atomic_write(Path(trainer.default_root_dir) / name) as stream:
            stream.write(self.parser.dump(self.config, skip_none=False).encode())


class OptionError(ValueError):
    """An option value that a class refused when the CLI instantiated it (exit status 2)."""


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint reads and writes, made safe (see the module docstring).

    Reads are weights-only whatever ``weights_only`` Lightning passes, and local only.
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        name = first_non_finite(checkpoint.get("state_dict", {}))
        if name is not None:
            raise DivergedError(f"refusing to write {path}: weight {name} is NaN or infinite; "
                                "the checkpoints written before are kept")
        with atomic_write(path) as stream:
            torch.save(checkpoint, stream)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return load_checkpoint_safely(path)


MODULE_ARGUMENTS = frozenset(inspect.signature(TranslationModule.__init__).parameters) - {"self"}


def check_resumable(path, checkpoint: dict) -> None:
    """A CheckpointError naming ``--ckpt_path`` unless its hyperparameters are this
    TranslationModule's and its weights fit them."""
    hparams = checkpoint.get("hyper_parameters") or {}
    unknown = sorted(set(hparams) - MODULE_ARGUMENTS - {"_instantiator", "_class_path"})
    if unknown:
        raise CheckpointError(
            f"--ckpt_path {path}: its training options {unknown} are not this version's (the "
            "model options moved under model.network and model.optimization in December "
            "2026); it still translates, but cannot be resumed here")
    if "network" not in hparams:
        return
    try:
        config = ModelConfig.of(ModelOptions(**hparams["network"]), hparams["src_vocab_size"],
                                hparams["tgt_vocab_size"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"--ckpt_path {path}: bad model options: {error}") from error
    problem = weights_misfit(config, model_state_dict(checkpoint))
    if problem:
        raise CheckpointError(f"--ckpt_path {path}: {problem}")


def load_checkpoint_safely(path) -> dict:
    """A local checkpoint, read weights-only; a CheckpointError naming ``--ckpt_path`` else."""
    if _URL.match(str(path)):
        raise CheckpointError(f"--ckpt_path {path}: remote checkpoints are refused (they would "
                              "be unpickled in full); download the file and give its path")
    try:
        with loading_checkpoint(str(path)):
            return read_checkpoint(path)
    except CheckpointError as error:
        raise CheckpointError(f"--ckpt_path: {error}") from error


class Seq2SeqCLI(LightningCLI):
    _run_lock: RunLock | None = None

    def __init__(self, *args, **kwargs) -> None:
        try:
            super().__init__(*args, **kwargs)  # runs the subcommand
        finally:
            if self._run_lock is not None:
                self._run_lock.release()
                self._run_lock = None

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        if self.config[subcommand].get("weights_only") is False:
            raise CheckpointError("--weights_only false: checkpoints are only ever read "
                                  "weights-only (loading in full could run code from the file)")
        ckpt_path = self.config[subcommand].get("ckpt_path")
        if ckpt_path and ckpt_path not in LIGHTNING_CKPT_NAMES:
            # Before LightningCLI reads its hyperparameters (it would unpickle in full, and
            # print its whole usage for hyperparameters it does not know).
            check_resumable(ckpt_path, load_checkpoint_safely(ckpt_path))

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (DataError, CheckpointError):
            raise
        except ValueError as error:  # an option value the model, data or trainer refuses
            raise OptionError(f"bad option value: {error}") from error

    def instantiate_trainer(self, **kwargs):
        trainer = super().instantiate_trainer(**kwargs)
        trainer.strategy.checkpoint_io = SafeCheckpointIO()  # also over a --trainer.plugins one
        return trainer

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.src_vocab_size", "model.src_vocab_size", apply_on="instantiate")
        parser.link_arguments("data.tgt_vocab_size", "model.tgt_vocab_size", apply_on="instantiate")
        parser.add_lightning_class_args(BestCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val_bleu",
            "checkpoint.mode": "max",
            "checkpoint.save_last": True,
            "checkpoint.save_top_k": 5,
            "checkpoint.average_best": 5,
            "checkpoint.filename": "best-epoch{epoch}-step{step}-bleu{val_bleu:.2f}",
            "checkpoint.auto_insert_metric_name": False,
        })
        parser.add_lightning_class_args(AttentionPlotCallback, "attention_plots")
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
        if self.subcommand and is_launching_process():
            self._run_lock = RunLock(Path(root))


def main(args: list[str] | None = None) -> int:
    """Run ``seq2seq-train``; the exit status (errors users cause are one line on stderr)."""
    try:
        Seq2SeqCLI(
            TranslationModule,
            TranslationDataModule,
            save_config_callback=SaveConfigBesideCheckpoints,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"use_distributed_sampler": False},
            args=args,
            parser_kwargs={"prog": PROG},
        )
    except (CheckpointError, OptionError, MisconfigurationException) as error:
        return fail(PROG, error, EXIT_USAGE_ERROR)
    except (DataError, RunDirectoryInUse, DivergedError) as error:
        return fail(PROG, error, EXIT_INPUT_ERROR)
    except OSError as error:
        if error.filename is None:  # not a file the user can fix: keep the traceback
            raise
        return fail(PROG, error, EXIT_INPUT_ERROR)
    return 0


if __name__ == "__main__":
    sys.exit(main())  # LightningCLI reads sys.argv (given args too, it would warn)
