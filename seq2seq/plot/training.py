"""Attention heatmaps during training: a Lightning callback that, after every validation,
decodes a few fixed sentences greedily and draws where the model looked.

    trainer = pl.Trainer(callbacks=[AttentionPlotCallback(num_sentences=4)], ...)

Each validation at optimizer step N writes ``<run dir>/attention/stepN_I.png`` for
sentence I (1-based) and, for each TensorBoardLogger of the trainer, adds the figure
under the tag ``attention/I`` at step N (TensorBoard's image slider then walks through
training). Other loggers are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from seq2seq.batching import pad_sequences
from seq2seq.plot import save_png
from seq2seq.plot.attention import attention_figure
from seq2seq.search import greedy_search
from seq2seq.translator import Alignment, alignment_of

VALIDATION_SPLIT = "validation"


class AttentionPlotCallback(pl.Callback):
    """Draw the attention of an attention model on fixed sentences at every validation.

    Args:
        num_sentences: how many sentences: the first non-empty sources of the validation
            split (read from the data module's prepared corpus, ``datamodule.preparation``);
            0 draws nothing.
        sentences: source texts to draw instead (all of them; empty ones are skipped).
        directory: folder under the run directory (``trainer.default_root_dir``).

    Only the global rank 0 draws, during ``fit`` (not in the sanity check, nor in
    ``validate``/``test``); a model without attention draws nothing. ``seq2seq-train`` has it
    on (``--attention_plots.num_sentences``, 4; 0 turns it off).
    Decoding is the validation's greedy search (``pl_module.validation_search`` of a
    :class:`~seq2seq.module.TranslationModule`), with the data module's tokenizers.
    """

    def __init__(self, num_sentences: int = 4, sentences: Sequence[str] | None = None,
                 directory: str = "attention"):
        super().__init__()
        if isinstance(num_sentences, bool) or not isinstance(num_sentences, int) \
                or num_sentences < 0:
            raise ValueError(f"num_sentences must be an integer >= 0, got {num_sentences!r}")
        if sentences is not None and not any(text.strip() for text in sentences):
            raise ValueError("sentences: give at least one non-empty sentence")
        self.num_sentences = num_sentences
        self.sentences = None if sentences is None else [text for text in sentences
                                                         if text.strip()]
        self.directory = directory
        self._sources: list[str] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or not trainer.is_global_zero:
            return
        if pl_module.model.attention is None or self.num_sentences == 0:
            return
        step = trainer.global_step
        folder = Path(trainer.default_root_dir) / self.directory
        loggers = [logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]
        for number, alignment in enumerate(self.alignments(trainer, pl_module), start=1):
            figure = attention_figure(alignment, title=f"step {step}")
            save_png(figure, folder / f"step{step}_{number}.png")
            for logger in loggers:
                logger.experiment.add_figure(f"attention/{number}", figure, global_step=step,
                                             close=False)

    def alignments(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[Alignment]:
        """The fixed sentences' greedy translations with their attention, in order."""
        tokenizers = trainer.datamodule.tokenizers
        ids = tokenizers.source.encode_batch(self.sources(trainer))
        if not ids:
            return []
        src, src_lengths = pad_sequences(ids)
        hypotheses = greedy_search(pl_module.model, src.to(pl_module.device),
                                   src_lengths.to(pl_module.device),
                                   getattr(pl_module, "validation_search", None),
                                   alignments=True)
        return [alignment_of(tokenizers, pieces, hypothesis)
                for pieces, hypothesis in zip(ids, hypotheses)]

    def sources(self, trainer: pl.Trainer) -> list[str]:
        """The texts to draw: ``sentences``, or the validation split's first non-empty
        sources (read once)."""
        if self._sources is None:
            if self.sentences is not None:
                self._sources = self.sentences
            else:
                split = trainer.datamodule.preparation.prepared_split(VALIDATION_SPLIT)
                self._sources = []
                for row in split:
                    if row["src"].strip():
                        self._sources.append(row["src"])
                    if len(self._sources) == self.num_sentences:
                        break
        return self._sources
