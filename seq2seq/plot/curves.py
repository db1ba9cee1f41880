"""Training curves from the CSV logs of ``seq2seq-train`` runs: train loss, validation BLEU
and learning rate against the optimizer step, several runs overlaid.

A run directory (``--trainer.default_root_dir``) holds ``logs/version_N/metrics.csv``,
one version per start of the run (a resumed run writes the next); Lightning's CSVLogger
writes a row per logging step, a column per metric, empty where a metric was not logged.
The versions are read in order and merged by step, a later version's value replacing an
earlier one's at the same step (a run resumed from an earlier checkpoint repeats steps).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from seq2seq.commands import CommandError

# (column, panel title); the learning rate is ``lr`` as TranslationModule logs it, or
# ``lr-<Optimizer>`` as Lightning's LearningRateMonitor does.
PANELS = (("train_loss", "train loss"), ("val_bleu", "validation BLEU"),
          ("lr", "learning rate"))
STEP = "step"


@dataclass
class RunMetrics:
    """One run's logged values: ``series[column] = (steps, values)``, steps increasing,
    for the columns of :data:`PANELS` that the run logged."""

    name: str
    files: list[Path]
    series: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)


def metrics_files(run_dir: str | os.PathLike) -> list[Path]:
    """The run's ``metrics.csv`` files in version order: ``logs/version_N/metrics.csv``,
    else any ``metrics.csv`` below ``run_dir`` (another logger layout).

    Raises:
        CommandError: ``run_dir`` is not a directory or holds no ``metrics.csv``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CommandError(f"{run_dir}: no such run directory")
    found = list(run_dir.glob("logs/version_*/metrics.csv")) or list(run_dir.rglob("metrics.csv"))
    if not found:
        raise CommandError(f"{run_dir}: no metrics.csv in it (seq2seq-train writes "
                           f"{run_dir / 'logs' / 'version_N' / 'metrics.csv'})")
    return sorted(found, key=_natural_key)


def _natural_key(path: Path) -> list:
    """version_10 after version_9."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def read_run(run_dir: str | os.PathLike, name: str | None = None) -> RunMetrics:
    """The curves of one run (named ``name``, by default its directory's name).

    Raises:
        CommandError: naming the file, for a run without a metrics.csv, a file without a
            ``step`` column or without any of the :data:`PANELS` columns, or a value that
            is not a number (naming its line).
    """
    files = metrics_files(run_dir)
    by_step: dict[str, dict[int, float]] = {}
    for path in files:
        for column, values in _read_metrics_csv(path).items():
            by_step.setdefault(column, {}).update(values)
    run = RunMetrics(name or Path(run_dir).resolve().name, files)
    for column, values in by_step.items():
        steps = sorted(values)
        run.series[column] = (steps, [values[step] for step in steps])
    return run


def _read_metrics_csv(path: Path) -> dict[str, dict[int, float]]:
    """``{panel column: {step: value}}`` of one CSVLogger file."""
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            reader = csv.DictReader(stream)
            header = reader.fieldnames or []
            columns = _panel_columns(path, header)
            found: dict[str, dict[int, float]] = {column: {} for column in columns.values()}
            for row in reader:
                step = row.get(STEP)
                if not step:
                    continue
                step_number = _number(path, reader.line_num, STEP, step)
                if not step_number.is_integer():
                    raise CommandError(f"{path}:{reader.line_num}: step {step!r} is not a whole "
                                       "number")
                for logged, column in columns.items():
                    text = row.get(logged)
                    if text:
                        found[column][int(step_number)] = _number(path, reader.line_num,
                                                                  logged, text)
    except UnicodeDecodeError as error:
        raise CommandError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
                           ) from None
    except csv.Error as error:
        raise CommandError(f"{path}: not a CSV file: {error}") from None
    return found


def _panel_columns(path: Path, header: Sequence[str]) -> dict[str, str]:
    """``{column in the file: panel column}`` for the panels the file has."""
    if STEP not in header:
        raise CommandError(f"{path}: no '{STEP}' column; is it a metrics.csv of seq2seq-train?")
    columns = {name: name for name, _ in PANELS if name in header}
    if "lr" not in columns:
        monitored = [name for name in header if name.startswith("lr-")]
        if monitored:
            columns[monitored[0]] = "lr"
    if not columns:
        wanted = ", ".join(name for name, _ in PANELS)
        raise CommandError(f"{path}: none of the columns {wanted} (or lr-*); is it a "
                           "metrics.csv of seq2seq-train?")
    return columns


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CommandError(f"{path}:{line}: {column} {text!r} is not a number") from None


def run_names(run_dirs: Sequence[str]) -> list[str]:
    """Legend names: each directory's name, or the path as given where names repeat."""
    names = [Path(run_dir).resolve().name for run_dir in run_dirs]
    return [name if names.count(name) == 1 else str(run_dir)
            for name, run_dir in zip(names, run_dirs)]


def curves_figure(runs: Sequence[RunMetrics]) -> Figure:
    """Three panels over a shared step axis (train loss, validation BLEU, learning rate),
    one line per run in the same colour on each, the legend (run names) on the first.
    A run that did not log a metric has no line in its panel."""
    figure = Figure(figsize=(8.0, 9.0), layout="constrained")
    axes = figure.subplots(len(PANELS), 1, sharex=True)
    colours = [f"C{index % 10}" for index in range(len(runs))]
    for panel, (column, title) in zip(axes, PANELS):
        for run, colour in zip(runs, colours):
            steps, values = run.series.get(column, ([], []))
            panel.plot(steps, values, color=colour, label=run.name,
                       marker="o" if column == "val_bleu" else None, markersize=3,
                       linewidth=1.2)
        panel.set_ylabel(title)
        panel.grid(True, alpha=0.3)
        if column == "lr" and _spans_decades(runs, column):
            panel.set_yscale("log")
    axes[-1].set_xlabel("step")
    axes[0].legend(loc="best", fontsize=8)
    return figure


def _spans_decades(runs: Sequence[RunMetrics], column: str) -> bool:
    """Whether the positive values differ by 100x or more (a warmup or a decay to show)."""
    values = [value for run in runs for value in run.series.get(column, ([], []))[1]
              if value > 0 and math.isfinite(value)]
    return bool(values) and max(values) >= 100 * min(values)
