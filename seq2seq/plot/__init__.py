"""Looking inside a model and a run: figures drawn with matplotlib, saved as PNG (issue #14).

    attention    heatmaps of where each target piece looked in the source
                 (:func:`seq2seq.plot.attention.attention_figure`)
    curves       training loss, validation BLEU and learning rate against step, runs overlaid
                 (:mod:`seq2seq.plot.curves`)
    projection   2-D maps of phrase summaries c and of piece embeddings, by t-SNE or PCA
                 (:mod:`seq2seq.plot.projection`; the paper's Figures 4 and 5)
    training     a Lightning callback that draws attention at every validation
                 (:class:`seq2seq.plot.training.AttentionPlotCallback`)
    cli          the ``seq2seq-plot`` command

Figures are :class:`matplotlib.figure.Figure` objects built without pyplot, so nothing
needs a display and no global figure state is kept: they are drawn by the Agg backend
when saved, and freed like any other object.
"""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from seq2seq.files import atomic_write

PNG_DPI = 100


def save_png(figure: Figure, path: str | os.PathLike, dpi: int = PNG_DPI) -> None:
    """Write ``figure`` as a PNG at ``path`` (its folder created), atomically: a failure
    leaves a previous file at ``path`` as it was (:func:`seq2seq.files.atomic_write`)."""
    with atomic_write(path) as stream:
        figure.savefig(stream, format="png", dpi=dpi)
