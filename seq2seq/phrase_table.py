"""Moses phrase tables: read a pair's fields, write the line back with one more score.

A line is ``source ||| target ||| score score ... ||| alignment ||| counts ...``: fields
split on `` ||| ``, the third holding space-separated numbers. The paper (Cho et al. 2014,
Table 1) adds the RNN Encoder–Decoder's p(target | source) as one more feature; Moses'
log-linear model takes the log of each score, so the feature is written as a probability.
"""

from __future__ import annotations

import math
import sys

from seq2seq.data import DataError

SEPARATOR = " ||| "
SMALLEST_PROBABILITY = sys.float_info.min  # exp() of a very low log probability, not 0


def phrase_fields(line: str, name: str, number: int) -> list[str]:
    """The fields of one phrase-table line; DataError naming ``name:number`` unless it has a
    source, a target and a third field of numbers."""
    fields = line.split(SEPARATOR)
    if len(fields) < 3:
        raise DataError(f"{name}:{number}: not a phrase-table line (need 'source ||| target "
                        f"||| scores', found {len(fields)} field(s)): {line[:80]!r}")
    if not fields[0].strip() or not fields[1].strip():
        raise DataError(f"{name}:{number}: empty {'source' if not fields[0].strip() else 'target'}"
                        " phrase")
    if not fields[2].split() or "|||" in fields[2]:
        raise DataError(f"{name}:{number}: the scores field is empty")
    for value in fields[2].split():
        try:
            finite = math.isfinite(float(value))
        except ValueError:
            finite = False
        if not finite:
            raise DataError(f"{name}:{number}: the scores field holds {value!r}, not a "
                            "finite number")
    return fields


def with_probability(fields: list[str], log_prob: float) -> str:
    """The line of ``fields`` with exp(``log_prob``) appended to its scores (the shortest
    text that reads back as the same double; a probability below the smallest normal
    double is written as that, so that Moses' log of it stays finite)."""
    probability = max(math.exp(log_prob), SMALLEST_PROBABILITY)
    scores = fields[2].rstrip()
    scored = f"{scores} {probability!r}" if scores else repr(probability)
    return SEPARATOR.join([fields[0], fields[1], scored, *fields[3:]])
