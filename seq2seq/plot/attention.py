"""Attention heatmaps: where each target piece looked in the source (Bahdanau et al. 2015,
Figure 3). Shared by ``seq2seq-plot attention``, the training callback and the server.

    figure = attention_figure(translation.alignments[0])
    save_png(figure, "0001.png")
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from seq2seq.translator import Alignment

CELL_INCHES = 0.2  # one source or target piece: 60 pieces make a 12-inch side
LABEL_POINTS = 7
# Room for the tick labels: inches per character of the longest piece at LABEL_POINTS.
LABEL_INCHES_PER_CHAR = 0.065
COLORBAR_INCHES = 1.0
AXIS_TITLE_INCHES = 0.6


def attention_figure(alignment: Alignment, title: str | None = None) -> Figure:
    """A heatmap of ``alignment.weights`` (T, S): row i is target piece i's attention over
    the S source pieces (white 0, black 1).

    Source pieces label the x axis (rotated, at the top, where the eye starts reading),
    target pieces (ending in ``</s>``) the y axis. The figure grows with the token counts
    (:data:`CELL_INCHES` a piece, plus room for the longest label), so that a sentence of
    60 pieces keeps 7-point labels apart.

    Raises:
        ValueError: the weights are not T rows of S numbers, or there are no pieces.
    """
    weights = np.asarray(alignment.weights, dtype=float)
    rows, cols = len(alignment.target_tokens), len(alignment.source_tokens)
    if rows == 0 or cols == 0:
        raise ValueError("an alignment needs at least one source and one target piece")
    if weights.shape != (rows, cols):
        raise ValueError(f"attention weights of shape {weights.shape} for {rows} target and "
                         f"{cols} source pieces")
    source_label = max(map(len, alignment.source_tokens)) * LABEL_INCHES_PER_CHAR
    target_label = max(map(len, alignment.target_tokens)) * LABEL_INCHES_PER_CHAR
    width = cols * CELL_INCHES + target_label + AXIS_TITLE_INCHES + COLORBAR_INCHES
    height = rows * CELL_INCHES + source_label + AXIS_TITLE_INCHES + (0.4 if title else 0.0)
    figure = Figure(figsize=(max(width, 3.0), max(height, 2.5)), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto",
                        interpolation="nearest")
    axes.set_xticks(range(cols), labels=alignment.source_tokens, rotation=90,
                    fontsize=LABEL_POINTS)
    axes.set_yticks(range(rows), labels=alignment.target_tokens, fontsize=LABEL_POINTS)
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    axes.set_xlabel("source")
    axes.set_ylabel("target")
    if title:
        figure.suptitle(title, fontsize=9)
    # A colorbar 0.15 inch wide and at most 3 inches tall, whatever the heatmap's size.
    colorbar = figure.colorbar(image, ax=axes, fraction=0.15 / (cols * CELL_INCHES + 0.15),
                               shrink=min(1.0, 3.0 / (rows * CELL_INCHES)), pad=0.02)
    colorbar.ax.tick_params(labelsize=LABEL_POINTS)
    return figure
