"""2-D maps of what the model learned (Cho et al. 2014, Figures 4 and 5).

- phrases: each phrase's summary vector c = tanh(V h_N), the encoder's final state through
  V (:attr:`seq2seq.model.EncoderState.summary`; attention models compute it too, to
  start the decoder), projected to 2-D: phrases that the model represents alike land
  close together.
- embeddings: the embedding vectors of the most frequent subword pieces of one side.

Projection by Barnes-Hut t-SNE (``sklearn.manifold.TSNE``, as the paper used) with its
perplexity clamped below the number of points and a fixed seed, or by PCA, which is
exact and better suited to a handful of points.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TextIO

import numpy as np
import sentencepiece as spm
import torch
from matplotlib.figure import Figure

from seq2seq.batching import pad_sequences, token_budget_batches
from seq2seq.model import Seq2Seq
from seq2seq.tokenizer import SubwordTokenizer
from seq2seq.translator import chunked
from seq2seq.vocab import SPECIAL_IDS

METHODS = ("tsne", "pca")
MIN_POINTS = 2
DEFAULT_PERPLEXITY = 30.0
DEFAULT_SEED = 0
CORPUS_CHUNK_LINES = 10_000


def project(vectors: np.ndarray | torch.Tensor, method: str = "tsne", *,
            perplexity: float = DEFAULT_PERPLEXITY, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(N, D) vectors -> (N, 2) coordinates, row i for vector i.

    ``tsne``: Barnes-Hut t-SNE with ``min(perplexity, N - 1)`` (t-SNE needs it below N),
    PCA initialisation and random state ``seed``: the same vectors give the same map.
    ``pca``: the first two principal components.

    Raises:
        ValueError: an unknown method, fewer than :data:`MIN_POINTS` vectors, or fewer
            than 2 dimensions.
    """
    from sklearn.decomposition import PCA  # sklearn is slow to import; only here
    from sklearn.manifold import TSNE

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if torch.is_tensor(vectors):
        vectors = vectors.detach().float().cpu().numpy()
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] < MIN_POINTS:
        count = vectors.shape[0] if vectors.ndim else 0
        raise ValueError(f"a 2-D map needs at least {MIN_POINTS} points, got {count}")
    if vectors.shape[1] < 2:
        raise ValueError(f"a 2-D map needs vectors of at least 2 dimensions, got "
                         f"{vectors.shape[1]}")
    if not (perplexity > 0 and math.isfinite(perplexity)):
        raise ValueError(f"perplexity must be positive, got {perplexity}")
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(vectors)
    tsne = TSNE(n_components=2, method="barnes_hut", init="pca", random_state=seed,
                perplexity=min(perplexity, vectors.shape[0] - 1.0))
    return tsne.fit_transform(vectors)


@torch.no_grad()
def summary_vectors(model: Seq2Seq, tokenizer: SubwordTokenizer, phrases: Sequence[str],
                    max_tokens: int = 4000) -> torch.Tensor:
    """(N, H) float32 summary vectors c of N phrases, row i for ``phrases[i]``.

    Phrases are encoded in batches of at most ``max_tokens`` padded source tokens, sorted
    by length (padding does not change c: the encoder's state stops at each length).

    Raises:
        ValueError: a phrase that has no subword pieces (empty or only spaces).
    """
    ids = tokenizer.encode_batch(list(phrases))
    for number, pieces in enumerate(ids, start=1):
        if not pieces:
            raise ValueError(f"phrase {number} is empty")
    device = next(model.parameters()).device
    vectors = torch.empty(len(ids), model.config.hidden_size)
    for batch in token_budget_batches([len(pieces) for pieces in ids], max_tokens):
        src, src_lengths = pad_sequences([ids[i] for i in batch])
        summary = model.encode(src.to(device), src_lengths.to(device)).summary  # (B, H)
        vectors[batch] = summary.float().cpu()
    return vectors


def frequent_pieces(tokenizer: SubwordTokenizer, top: int,
                    corpus: Iterable[str] | None = None) -> list[int]:
    """Ids of the ``top`` most frequent pieces, most frequent first; the special pieces
    (``<pad>``, ``<unk>``, ``<s>``, ``</s>``) and byte pieces are left out.

    With ``corpus`` (lines of text) the pieces are counted in its segmentation (ties by
    id; pieces that never occur are left out). Without, the sentencepiece model's piece
    scores stand in for frequency, highest first: a unigram model's score is the piece's
    log probability in the training text, a BPE model's the order of its merges
    (frequent merges first), so ids after the special ones are already in this order.
    """
    processor = spm.SentencePieceProcessor(model_proto=tokenizer.to_bytes())

    def ordinary(piece_id: int) -> bool:
        return not (piece_id in SPECIAL_IDS or processor.is_control(piece_id)
                    or processor.is_unknown(piece_id) or processor.is_unused(piece_id)
                    or processor.is_byte(piece_id))

    if corpus is not None:
        counts: Counter[int] = Counter()
        for lines in chunked(corpus, CORPUS_CHUNK_LINES):  # a corpus of any size, streamed
            for ids in tokenizer.encode_batch(lines):
                counts.update(ids)
        ranked = sorted((piece_id for piece_id in counts if ordinary(piece_id)),
                        key=lambda piece_id: (-counts[piece_id], piece_id))
    else:
        ranked = sorted((piece_id for piece_id in range(processor.get_piece_size())
                         if ordinary(piece_id)),
                        key=lambda piece_id: (-processor.get_score(piece_id), piece_id))
    return ranked[:top]


def embedding_vectors(model: Seq2Seq, side: str, ids: Sequence[int]) -> torch.Tensor:
    """(N, E) float32 embedding rows of ``ids`` on ``side`` (``src`` or ``tgt``)."""
    if side not in ("src", "tgt"):
        raise ValueError(f"side must be src or tgt, got {side!r}")
    table = model.src_embedding if side == "src" else model.tgt_embedding
    return table.weight.detach()[list(ids)].float().cpu()


def projection_figure(labels: Sequence[str], coordinates: np.ndarray,
                      title: str | None = None) -> Figure:
    """A scatter of ``coordinates`` (N, 2), point i annotated with ``labels[i]``; the
    figure grows with the number of points (6 to 24 inches a side)."""
    coordinates = np.asarray(coordinates, dtype=float)
    if coordinates.shape != (len(labels), 2):
        raise ValueError(f"coordinates of shape {coordinates.shape} for {len(labels)} labels")
    side = min(24.0, max(6.0, 4.0 + 0.4 * math.sqrt(len(labels))))
    figure = Figure(figsize=(side, side), layout="constrained")
    axes = figure.add_subplot()
    axes.scatter(coordinates[:, 0], coordinates[:, 1], s=10, color="C0")
    fontsize = 8 if len(labels) <= 100 else 6
    for label, (x, y) in zip(labels, coordinates):
        axes.annotate(label, (x, y), xytext=(3, 2), textcoords="offset points",
                      fontsize=fontsize)
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title)
    return figure


def write_coordinates(stream: TextIO, labels: Sequence[str], coordinates: np.ndarray) -> None:
    """One ``label<TAB>x<TAB>y`` line per point, in order; tabs and line breaks inside a
    label become spaces, and numbers are written so that they read back exactly."""
    for label, (x, y) in zip(labels, np.asarray(coordinates, dtype=float)):
        text = label.replace("\r", " ").replace("\n", " ").replace("\t", " ")
        stream.write(f"{text}\t{float(x)!r}\t{float(y)!r}\n")
