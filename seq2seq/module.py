"""A thin LightningModule around :class:`seq2seq.model.Seq2Seq`: losses, BLEU, optimizers."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset

from seq2seq.batching import Batch
from seq2seq.checkpoint import CHECKPOINT_KEY, translation_payload
from seq2seq.metrics import corpus_scores
from seq2seq.model import ModelConfig, ModelOptions, Seq2Seq
from seq2seq.search import SearchOptions, greedy_search
from seq2seq.tokenizer import TokenizerPair

OPTIMIZERS = ("adam", "adamw", "adadelta")
SCHEDULES = ("constant", "inverse_sqrt", "plateau")


class DivergedError(ArithmeticError):
    """The training loss became NaN or infinite; the run stops before it updates the weights."""


@dataclass(frozen=True)
class OptimizationOptions:
    """How to train (``--model.optimization.*``).

    optimizer: adam | adamw | adadelta (the paper's: rho 0.95, eps 1e-6, lr 1.0).
    lr, weight_decay, adam_betas, adadelta_rho, adadelta_eps: the optimizer's.
    lr_schedule: constant (after an optional linear warmup of ``warmup_steps``) |
        inverse_sqrt (linear warmup, then lr·sqrt(warmup/step)) | plateau (multiply by
        ``plateau_factor`` when validation BLEU has not improved for ``plateau_patience``
        validations).
    label_smoothing: cross-entropy label smoothing.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adadelta_rho: float = 0.95
    adadelta_eps: float = 1e-6
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    plateau_factor: float = 0.5
    plateau_patience: int = 1
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {list(SCHEDULES)}, "
                             f"got {self.lr_schedule!r}")


class EvaluationData(Protocol):
    """What the training module reads from its data module (a TranslationDataModule)."""

    src_lang: str
    tgt_lang: str

    @property
    def tokenizers(self) -> TokenizerPair: ...

    def references(self, split: str) -> list[str]:
        """The detokenized targets of ``split``, in corpus order (``Batch.index``)."""

    def val_dataloader(self) -> Iterable[Batch]:
        """This rank's share of the validation batches."""


class TranslationModule(pl.LightningModule):
    """Trains a Seq2Seq with teacher forcing; validates by greedy decoding and sacreBLEU.

    Args:
        network: the model's shape (:class:`seq2seq.model.ModelOptions`).
        optimization: :class:`OptimizationOptions`.
        src_vocab_size, tgt_vocab_size: linked from the data module by the CLI.
        val_max_len_a, val_max_len_b: greedy decoding in validation stops at
            a·source_length + b tokens.
    """

    def __init__(self, network: ModelOptions = ModelOptions(),  # noqa: B008 (frozen)
                 optimization: OptimizationOptions = OptimizationOptions(),
                 src_vocab_size: int = 0, tgt_vocab_size: int = 0,
                 val_max_len_a: float = SearchOptions.max_len_a,
                 val_max_len_b: float = SearchOptions.max_len_b):
        super().__init__()
        # load_from_checkpoint passes the saved hyperparameters: plain dicts.
        network = ModelOptions(**network) if isinstance(network, Mapping) else network
        if isinstance(optimization, Mapping):
            optimization = OptimizationOptions(**optimization)
        self.optimization = optimization
        self.validation_search = SearchOptions(beam_size=1, max_len_a=val_max_len_a,
                                               max_len_b=val_max_len_b)
        # Plain values only, so that checkpoints load weights-only.
        self.save_hyperparameters({
            "network": asdict(network), "optimization": asdict(self.optimization),
            "src_vocab_size": src_vocab_size, "tgt_vocab_size": tgt_vocab_size,
            "val_max_len_a": val_max_len_a, "val_max_len_b": val_max_len_b})
        self.model = Seq2Seq(ModelConfig.of(network, src_vocab_size, tgt_vocab_size))
        self._eval_outputs: list[tuple[int, list[int]]] = []
        self._last_step_time: float | None = None
        self._tokens_per_second = 0.0

    # ---- the data module's side ----------------------------------------------------------

    @property
    def data(self) -> EvaluationData:
        return self.trainer.datamodule

    # ---- training ---------------------------------------------------------------------

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        _, loss = self.model(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out,
                             label_smoothing=self.optimization.label_smoothing)
        self._check_finite(loss)
        tokens = batch.num_tgt_tokens
        self._update_throughput(tokens)
        self.log("train_loss", loss, prog_bar=True, batch_size=tokens)
        self.log("train_ppl", torch.exp(loss.detach()), batch_size=tokens)
        self.log("tok/s", self._tokens_per_second, prog_bar=True, batch_size=tokens)
        self.log("lr", self.optimizers().param_groups[0]["lr"], prog_bar=True, batch_size=tokens)
        return loss

    def _check_finite(self, loss: torch.Tensor) -> None:
        """Stop the run at a NaN or infinite loss, on every rank, before its backward pass.

        Nothing has been written since the last checkpoints, which stay the last finite
        state (checkpoints with non-finite weights are refused too: seq2seq.cli).
        """
        finite = bool(torch.isfinite(loss.detach()))
        if self.trainer.strategy.reduce_boolean_decision(finite, all=True):
            return
        where = f"{float(loss):g}" if not finite else "not finite on another rank"
        raise DivergedError(
            f"training loss {where} at step {self.global_step} (epoch {self.current_epoch}): "
            "the run diverged; the checkpoints written before it are kept. Lower --model.optimization.lr "
            "or set --trainer.gradient_clip_val")

    def _update_throughput(self, tokens: int) -> None:
        """Target tokens per second of this rank, smoothed over recent steps."""
        now = time.perf_counter()
        if self._last_step_time is not None:
            rate = tokens / max(now - self._last_step_time, 1e-9)
            self._tokens_per_second = rate if not self._tokens_per_second else \
                0.9 * self._tokens_per_second + 0.1 * rate
        self._last_step_time = now

    def on_train_epoch_start(self) -> None:
        self._last_step_time = None
        # Lightning sets the epoch of a loader's samplers, not of an iterable dataset's own
        # order (a streamed corpus shuffles its batches by epoch).
        dataset = getattr(self.trainer.train_dataloader, "dataset", None)
        if isinstance(dataset, IterableDataset) and hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.current_epoch)

    # ---- validation and test ------------------------------------------------------------

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluation_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

    def _evaluation_step(self, batch: Batch, prefix: str) -> None:
        _, loss = self.model(batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out)
        tokens = batch.num_tgt_tokens
        self.log(f"{prefix}_loss", loss, batch_size=tokens, sync_dist=True)
        self._eval_outputs.extend(self._greedy_outputs(self.model, batch))

    def _greedy_outputs(self, model: Seq2Seq, batch: Batch) -> list[tuple[int, list[int]]]:
        """(sentence index, greedy output ids) for each sentence of ``batch``."""
        hypotheses = greedy_search(model, batch.src, batch.src_lengths, self.validation_search)
        # An empty source translates to an empty line, as in seq2seq-translate.
        return [(index, hypothesis.tokens if length else [])
                for index, length, hypothesis in zip(batch.index.tolist(),
                                                     batch.src_lengths.tolist(), hypotheses)]

    @torch.no_grad()
    def validation_scores_of(self, model: Seq2Seq) -> dict | None:
        """BLEU and chrF of ``model`` (on this module's device) on the validation split,
        decoded as validation decodes; collective under DDP (every rank calls it), the
        scores on global rank 0 (None elsewhere)."""
        was_training, outputs = model.training, []
        model.eval()
        for batch in self.data.val_dataloader():
            outputs.extend(self._greedy_outputs(model, batch.to(self.device)))
        model.train(was_training)
        scores = self._corpus_scores(_gather_from_all_ranks(outputs), "validation")
        return scores if self.trainer.is_global_zero else None

    def on_validation_epoch_start(self) -> None:
        self._eval_outputs = []

    def on_test_epoch_start(self) -> None:
        self._eval_outputs = []

    def on_validation_epoch_end(self) -> None:
        self._log_corpus_scores("val", "validation")

    def on_test_epoch_end(self) -> None:
        self._log_corpus_scores("test", "test")

    def _log_corpus_scores(self, prefix: str, split: str) -> None:
        scores = self._corpus_scores(_gather_from_all_ranks(self._eval_outputs), split)
        self._eval_outputs = []
        self.log(f"{prefix}_bleu", scores["bleu"]["score"], prog_bar=True, sync_dist=False)
        self.log(f"{prefix}_chrf", scores["chrf"]["score"], sync_dist=False)
        loss = self.trainer.callback_metrics.get(f"{prefix}_loss")
        if loss is not None:
            self.log(f"{prefix}_ppl", math.exp(min(float(loss), 50.0)), sync_dist=False)

    def _corpus_scores(self, outputs: list[tuple[int, list[int]]], split: str) -> dict:
        """BLEU and chrF of (sentence index, output ids) pairs against ``split``'s references."""
        references = self.data.references(split)
        by_index = dict(outputs)  # DDP pads with a few repeated batches: keep one of each
        if len(by_index) != len(references):
            # A sanity check run, or limit_val_batches: score only what was decoded.
            references = [references[i] for i in sorted(by_index)]
        tokenizer = self.data.tokenizers.target
        hypotheses = [tokenizer.decode(by_index[i]) for i in sorted(by_index)]
        return corpus_scores(hypotheses, [references], metrics=("bleu", "chrf"))

    # ---- optimisation -----------------------------------------------------------------

    def configure_optimizers(self):
        h = self.optimization
        params = self.model.parameters()
        if h.optimizer == "adadelta":
            optimizer = torch.optim.Adadelta(params, lr=h.lr, rho=h.adadelta_rho, eps=h.adadelta_eps,
                                             weight_decay=h.weight_decay)
        else:
            cls = torch.optim.Adam if h.optimizer == "adam" else torch.optim.AdamW
            optimizer = cls(params, lr=h.lr, betas=tuple(h.adam_betas), weight_decay=h.weight_decay)
        if h.lr_schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="max", factor=h.plateau_factor, patience=h.plateau_patience)
            return {"optimizer": optimizer, "lr_scheduler": {
                "scheduler": scheduler, "monitor": "val_bleu", "interval": "epoch", "strict": False}}
        schedule = inverse_sqrt_factor if h.lr_schedule == "inverse_sqrt" else warmup_factor
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: schedule(step, h.warmup_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- checkpoints ------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        data = self.data
        checkpoint[CHECKPOINT_KEY] = translation_payload(self.model, data.tokenizers, data.src_lang,
                                                         data.tgt_lang, self._saved_metrics())

    def _saved_metrics(self) -> dict[str, float]:
        """The last validation's scores (``val_*``) with the epoch and step of this save."""
        logged = self.trainer.callback_metrics
        metrics = {name: float(value) for name, value in logged.items()
                   if name.startswith("val_") and torch.is_tensor(value) and value.numel() == 1}
        return {**metrics, "epoch": self.current_epoch, "step": self.global_step}


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warmup to 1 over ``warmup_steps`` optimizer steps, then constant."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def inverse_sqrt_factor(step: int, warmup_steps: int) -> float:
    """Linear warmup, then decay with the inverse square root of the step."""
    step = step + 1
    warmup = max(warmup_steps, 1)
    return min(step / warmup, math.sqrt(warmup / step))


def _gather_from_all_ranks(items: list) -> list:
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]
