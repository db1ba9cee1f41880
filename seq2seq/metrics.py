"""Corpus BLEU, chrF and TER with sacreBLEU, each with the signature that reproduces it.

Scores are computed on detokenized text, exactly as the ``sacrebleu`` command computes
them with the same options: ``sacrebleu REF -i HYP -m bleu chrf ter`` prints the same
numbers and signatures as :func:`corpus_scores` with the defaults. ``lowercase`` applies
to BLEU and chrF (``-lc``, ``--chrf-lowercase``); TER keeps sacreBLEU's own default
(case-insensitive), as its signature (``case:lc``) says.
"""

from __future__ import annotations

from collections.abc import Sequence

from sacrebleu.metrics import BLEU, CHRF, TER

METRICS = ("bleu", "chrf", "ter")


def corpus_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                  metrics: Sequence[str] = METRICS, tokenize: str = "13a",
                  lowercase: bool = False, hypotheses_name: str = "hypotheses",
                  reference_names: Sequence[str] | None = None) -> dict[str, dict]:
    """Corpus-level scores of ``hypotheses`` against one or more reference sets.

    Args:
        hypotheses: one detokenized output per segment.
        references: one list per reference set, each as long as ``hypotheses``.
        metrics: any of ``bleu``, ``chrf``, ``ter``.
        tokenize: BLEU's tokenizer (sacreBLEU's ``--tokenize``).
        hypotheses_name, reference_names: what to call the inputs in errors (file names).

    Returns:
        ``{metric: {"score": float, "signature": str, "text": str}}`` in the order of
        ``metrics``; ``text`` is sacreBLEU's one-line report (score, details, signature).

    Raises:
        ValueError: an unknown metric, no reference set, or a reference set whose length
            differs from the hypotheses' (naming both).
    """
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {list(METRICS)}")
    if not references:
        raise ValueError("need at least one reference set")
    names = list(reference_names or [f"reference set {i + 1}" for i in range(len(references))])
    for name, reference_set in zip(names, references):
        if len(reference_set) != len(hypotheses):
            raise ValueError(f"{hypotheses_name} has {len(hypotheses)} lines but {name} has "
                             f"{len(reference_set)}")
    scorers = {
        "bleu": lambda: BLEU(tokenize=tokenize, lowercase=lowercase),
        "chrf": lambda: CHRF(lowercase=lowercase),
        "ter": lambda: TER(),
    }
    results = {}
    for name in metrics:
        scorer = scorers[name]()
        score = scorer.corpus_score(list(hypotheses), [list(refs) for refs in references])
        signature = str(scorer.get_signature())
        results[name] = {"score": float(score.score), "signature": signature,
                         "text": score.format(signature=signature)}
    return results


def format_scores(scores: dict[str, dict]) -> str:
    """One line per metric, as ``sacrebleu`` prints them in text format::

        BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 27.3 58.1/33.0/...
    """
    return "\n".join(result["text"] for result in scores.values())
