"""Train a plan's runs side by side, evaluate them in one go, and tabulate the results.

    python scripts/quality_runs.py --plan configs/plans/multi30k_quality.yaml \\
        --data ../shared/data/multi30k --out runs/quality [--max-time 00:00:07:00] \\
        [--accelerator gpu|cpu|auto] [--parallel N] [--eval-parallel N] [--runs NAME ...] \\
        [--override "--trainer.max_epochs 60" ...]

The plan (YAML; configs/plans/multi30k_quality.yaml says what each key means) lists training
runs (name, config, seed, overrides), ensembles of runs and the search options and splits
to evaluate with. Each run is one ``seq2seq-train fit`` process::

    python -m seq2seq.cli fit --config C --data.source DATA --trainer.default_root_dir OUT/NAME
        --seed_everything S [--trainer.max_time T] --trainer.accelerator A
        --trainer.enable_progress_bar false [the run's overrides] [every --override]

at most ``--parallel`` at once (default: all), each pinned to its share of this process's
CPUs, with as many OpenMP threads, its stdout and stderr in ``OUT/NAME/train.log``. A run
that fails is reported (name, exit status, last lines of its log) and the others go on.
Then ``seq2seq-evaluate --json`` (``python -m seq2seq.commands.evaluate``) scores, on each
split of the plan, each run's ``best.ckpt`` and ``averaged.ckpt`` (where written) and each
ensemble (its runs' ``best.ckpt`` as several ``--checkpoint``), ``--eval-parallel`` at
once; the split's files are found as the data module finds them (the run's resolved
``config.yaml``: languages and ``split_stems``). Each evaluation leaves
``OUT/NAME/eval/{best,averaged,ensemble}.{split}.{json,log,hyp}``.

``OUT/results.json`` (per run and ensemble: checkpoints, epochs, wall seconds, the best
validation BLEU logged in training, each split's BLEU, chrF and TER with sacreBLEU's
signatures, and every command) and ``OUT/results.md`` (a table for docs/BENCHMARKS.md,
also printed) are written at the end, and also after SIGINT or SIGTERM, which stop the
processes still running. The exit status is 0 when every run and evaluation succeeded, 1
when any failed or a run wrote no best.ckpt (it finished no validation), 2 for a bad plan
or arguments, 128 + the signal when stopped.

On the GPU machine (python3 with torch, pytorch-lightning, sentencepiece, sacrebleu, but
without these of our dependencies), ``scripts/gpu_quality.sh`` installs the wheels carried
in ``.whl/``, fetched here with::

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \\
        --platform manylinux2014_x86_64 -d .whl datasets==5.2.0 dill==0.4.1 \\
        multiprocess==0.70.19 fsspec==2026.9.0 jsonargparse==4.53.0 docstring_parser==0.18.0 \\
        typeshed_client==2.15.0
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

PROG = "quality_runs.py"
REPO = Path(__file__).resolve().parents[1]
PLAN_KEYS = {"runs", "ensembles", "search", "splits"}
RUN_KEYS = {"name", "config", "seed", "overrides"}
ENSEMBLE_KEYS = {"name", "runs"}
SEARCH_KEYS = ("beam_size", "alpha", "max_len_a", "max_len_b", "min_length", "ban_unk",
               "exact_stop", "max_src_tokens", "buffer_size", "max_tokens", "dtype")
"""The plan's ``search`` keys: seq2seq-evaluate's flags (``--beam-size``...) that decide
how the checkpoints translate."""
SWITCH_KEYS = ("ban_unk", "exact_stop")  # flags without a value
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
CHECKPOINTS = ("best", "averaged")  # <root>/best.ckpt and <root>/averaged.ckpt
EVAL_DEVICES = {"gpu": "cuda", "cpu": "cpu", "auto": "auto"}
LOG_TAIL_LINES = 15
POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 20


class PlanError(ValueError):
    """A bad plan or command line; the message names the plan file and entry at fault."""


class Stopped(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived: running processes are stopped, results written."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# ---- the plan ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run: ``seq2seq-train fit`` of ``config`` with ``seed`` and ``overrides``."""

    name: str
    config: str
    seed: int
    overrides: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """Runs whose best checkpoints are decoded as one model."""

    name: str
    runs: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A checked plan file: its runs, ensembles, search options and splits to evaluate."""

    path: str
    runs: tuple[Run, ...]
    ensembles: tuple[Ensemble, ...]
    search: dict
    splits: dict[str, str | None]


def load_plan(path: str | Path) -> Plan:
    """The plan in the YAML file ``path``, checked; a PlanError naming file and entry else."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except OSError as error:
        raise PlanError(f"--plan {path}: cannot read: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise PlanError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise PlanError(f"{path}: a plan is a mapping with keys {sorted(PLAN_KEYS)}")
    check_keys(data, PLAN_KEYS, path)
    runs = [parse_run(entry, f"{path}: runs[{index}]")
            for index, entry in enumerate(listed(data, "runs", path, required=True))]
    seen: dict[str, int] = {}
    for index, run in enumerate(runs):
        if run.name in seen:
            raise PlanError(f"{path}: runs[{index}]: duplicate run name {run.name!r} "
                            f"(also runs[{seen[run.name]}])")
        seen[run.name] = index
    ensembles = [parse_ensemble(entry, f"{path}: ensembles[{index}]", seen)
                 for index, entry in enumerate(listed(data, "ensembles", path))]
    names = list(seen)
    for index, ensemble in enumerate(ensembles):
        if ensemble.name in names:
            raise PlanError(f"{path}: ensembles[{index}]: name {ensemble.name!r} is already "
                            "a run's or an ensemble's (each names a folder under --out)")
        names.append(ensemble.name)
    search = data.get("search") or {}
    check_search(search, f"{path}: search")
    splits = parse_splits(data.get("splits"), f"{path}: splits")
    return Plan(path, tuple(runs), tuple(ensembles), dict(search), splits)


def check_keys(entry: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise PlanError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def listed(data: dict, key: str, where: str, required: bool = False) -> list:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise PlanError(f"{where}: {key} must be a {'non-empty ' if required else ''}list")
    return value


def checked_name(entry: dict, where: str) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise PlanError(f"{where}: name must be letters, digits, '.', '_' or '-' (a folder "
                        f"name), got {name!r}")
    return name


def parse_run(entry: object, where: str) -> Run:
    if not isinstance(entry, dict):
        raise PlanError(f"{where}: a run is a mapping with keys {sorted(RUN_KEYS)}")
    name = checked_name(entry, where)
    where = f"{where} ({name})"
    check_keys(entry, RUN_KEYS, where)
    for key in ("config", "seed"):
        if key not in entry:
            raise PlanError(f"{where}: {key} is missing")
    config = entry["config"]
    if not isinstance(config, str) or not Path(config).is_file():
        raise PlanError(f"{where}: config {config}: no such file (relative to the working "
                        f"directory {os.getcwd()})")
    seed = entry["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise PlanError(f"{where}: seed must be an integer, got {seed!r}")
    overrides = entry.get("overrides") or []
    if not isinstance(overrides, list) or not all(
            isinstance(item, str | int | float) and not isinstance(item, bool) for item in overrides):
        raise PlanError(f"{where}: overrides must be a list of command-line arguments "
                        f"(quote true, false and null: \"false\"), got {overrides!r}")
    return Run(name, config, seed, tuple(str(item) for item in overrides))


def parse_ensemble(entry: object, where: str, runs: dict[str, int]) -> Ensemble:
    if not isinstance(entry, dict):
        raise PlanError(f"{where}: an ensemble is a mapping with keys {sorted(ENSEMBLE_KEYS)}")
    name = checked_name(entry, where)
    where = f"{where} ({name})"
    check_keys(entry, ENSEMBLE_KEYS, where)
    members = entry.get("runs")
    if not isinstance(members, list) or len(members) < 2:
        raise PlanError(f"{where}: runs must list at least two run names, got {members!r}")
    unknown = [member for member in members if member not in runs]
    if unknown:
        raise PlanError(f"{where}: unknown run(s) {unknown}; the plan's runs are {list(runs)}")
    if len(set(members)) != len(members):
        raise PlanError(f"{where}: a run is listed twice in {members}")
    return Ensemble(name, tuple(members))


def search_flags(search: dict) -> list[str]:
    """seq2seq-evaluate's flags for the plan's ``search`` options."""
    flags = []
    for key, value in search.items():
        flag = "--" + key.replace("_", "-")
        if key in SWITCH_KEYS:
            flags += [flag] if value else []
        else:
            flags += [flag, str(value)]
    return flags


def check_search(search: object, where: str) -> None:
    """PlanError unless ``search`` holds options that seq2seq-evaluate accepts as given."""
    from seq2seq.commands import check_search_arguments
    from seq2seq.commands.evaluate import build_parser

    if not isinstance(search, dict):
        raise PlanError(f"{where}: a mapping of search options, got {search!r}")
    check_keys(search, set(SEARCH_KEYS), where)
    for key, value in search.items():
        if (key in SWITCH_KEYS) != isinstance(value, bool) or value is None:
            kind = "true or false" if key in SWITCH_KEYS else "a number or name"
            raise PlanError(f"{where}: {key} must be {kind}, got {value!r}")
    parser = build_parser()

    def error(message: str):  # argparse's own message, as a plan error
        raise PlanError(f"{where}: seq2seq-evaluate refuses {search_flags(search)}: {message}")

    parser.error = error
    args = parser.parse_args(["--checkpoint", "-", "--source", "-", "--references", "-",
                              *search_flags(search)])
    check_search_arguments(parser, args)


def parse_splits(splits: object, where: str) -> dict[str, str | None]:
    if splits is None:
        return {"validation": None, "test": None}
    if not isinstance(splits, dict) or not splits or not all(
            isinstance(split, str) and (stem is None or isinstance(stem, str))
            for split, stem in splits.items()):
        raise PlanError(f"{where}: a mapping of split name to file stem (or null), got "
                        f"{splits!r}")
    return dict(splits)


def selected(plan: Plan, names: Sequence[str] | None) -> Plan:
    """The plan with only the runs ``names`` (all for None) and the ensembles of those."""
    if not names:
        return plan
    known = [run.name for run in plan.runs]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise PlanError(f"--runs: {plan.path} has no run(s) {unknown}; its runs are {known}")
    runs = tuple(run for run in plan.runs if run.name in names)
    ensembles = tuple(ensemble for ensemble in plan.ensembles
                      if all(member in names for member in ensemble.runs))
    return dataclasses.replace(plan, runs=runs, ensembles=ensembles)


# ---- evaluation files --------------------------------------------------------------------


def data_options(config: Path) -> dict:
    """The ``data:`` section of a training config (a run's own or its resolved config.yaml)."""
    with open(config, encoding="utf-8") as stream:
        return (yaml.safe_load(stream) or {}).get("data") or {}


def split_files(data_dir: Path, options: dict, splits: dict[str, str | None]) -> dict[str, tuple[str, str]]:
    """Per split, its (source, reference) text files in ``data_dir``, found as the data
    module finds them (seq2seq.data's own lookup, so that the files scored are the files
    training read: stems, the validation aliases, plain before .gz); a DataError naming
    what is missing else."""
    import inspect

    from seq2seq import data
    from seq2seq.datamodule import TranslationDataModule

    defaults = inspect.signature(TranslationDataModule).parameters
    src = options.get("src_lang") or defaults["src_lang"].default
    tgt = options.get("tgt_lang") or defaults["tgt_lang"].default
    stems = options.get("split_stems") or {}
    return {split: data.local_text_split(data_dir, split, src, tgt, stem or stems.get(split))
            for split, stem in splits.items()}


def check_data(plan: Plan, data_dir: Path) -> None:
    """PlanError unless ``data_dir`` is a directory holding every run's evaluation files
    (as the run's config names them; the resolved config decides again after training)."""
    from seq2seq.data import DataError

    if not data_dir.is_dir():
        raise PlanError(f"--data {data_dir}: no such directory")
    for index, run in enumerate(plan.runs):
        try:
            split_files(data_dir, data_options(Path(run.config)), plan.splits)
        except DataError as error:
            raise PlanError(f"{plan.path}: runs[{index}] ({run.name}): {error}") from None


# ---- processes ---------------------------------------------------------------------------


@dataclasses.dataclass
class Job:
    """One command to run, its output files, and what became of it."""

    name: str
    command: list[str]
    log: Path  # stderr, and stdout unless ``stdout`` is given
    stdout: Path | None = None
    cpus: list[int] = dataclasses.field(default_factory=list)
    exit_code: int | None = None
    seconds: float | None = None
    status: str = "not run"  # ok, failed, stopped


def cpu_shares(count: int) -> list[list[int]]:
    """``count`` disjoint sets of this process's CPUs (each of at least one; sets repeat
    when there are more than CPUs)."""
    cpus = available_cpus()
    share = max(1, len(cpus) // max(count, 1))
    return [[cpus[(slot * share + offset) % len(cpus)] for offset in range(share)]
            for slot in range(count)]


def available_cpus() -> list[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def child_environment(threads: int) -> dict[str, str]:
    """This environment with the repo importable and ``threads`` OpenMP/BLAS threads."""
    path = os.environ.get("PYTHONPATH")
    threads_text = str(threads)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), path])),
            "OMP_NUM_THREADS": threads_text, "MKL_NUM_THREADS": threads_text,
            "OPENBLAS_NUM_THREADS": threads_text, "PYTHONUNBUFFERED": "1"}


def start(job: Job) -> subprocess.Popen:
    """Start ``job`` pinned to its CPUs (pinned at once from here, not by a ``preexec_fn``,
    which is unsafe in a process with threads: the child's Python is still starting, and
    the threads it makes later inherit the pinning)."""
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log, "wb") as log, \
            open(job.stdout, "wb") if job.stdout else contextlib.nullcontext(log) as out:
        process = subprocess.Popen(job.command, stdout=out, stderr=log, stdin=subprocess.DEVNULL,
                                   env=child_environment(len(job.cpus) or 1))
    if job.cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(ProcessLookupError):  # it has already ended
            os.sched_setaffinity(process.pid, job.cpus)
    return process


def run_jobs(jobs: Sequence[Job], parallel: int, clock: Clock) -> None:
    """Run ``jobs``, at most ``parallel`` at once, each on its own share of the CPUs;
    sets each job's exit code, seconds and status. On :class:`Stopped` the running ones are
    stopped (SIGTERM, then SIGKILL after a grace period) and it is raised again."""
    parallel = max(1, min(parallel, len(jobs)))
    shares = cpu_shares(parallel)
    free = list(range(parallel))
    waiting = list(jobs)
    running: dict[int, tuple[Job, subprocess.Popen, float]] = {}  # slot -> job
    try:
        while waiting or running:
            while waiting and free:
                slot, job = free.pop(0), waiting.pop(0)
                job.cpus = shares[slot]
                running[slot] = (job, start(job), time.monotonic())
                clock.say(f"started {job.name} on CPUs {cpu_list(job.cpus)}")
            for slot, (job, process, began) in list(running.items()):
                if process.poll() is None:
                    continue
                job.exit_code, job.seconds = process.returncode, time.monotonic() - began
                job.status = "ok" if job.exit_code == 0 else "failed"
                clock.say(f"{job.name}: {job.status} (exit {job.exit_code}) after "
                          f"{job.seconds:.1f} s")
                del running[slot]
                free.append(slot)
            time.sleep(POLL_SECONDS)
    except Stopped:
        stop([(job, process, began) for job, process, began in running.values()], clock)
        raise


def stop(running: list[tuple[Job, subprocess.Popen, float]], clock: Clock) -> None:
    """Stop running processes: SIGTERM, then SIGKILL those still there after the grace.
    Further signals are ignored meanwhile (a second one would leave processes behind)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    for _, process, _ in running:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for job, process, began in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        job.exit_code, job.seconds, job.status = process.returncode, time.monotonic() - began, \
            "stopped"
        clock.say(f"{job.name}: stopped (exit {job.exit_code})")


def cpu_list(cpus: Sequence[int]) -> str:
    if len(cpus) > 1 and list(cpus) == list(range(cpus[0], cpus[-1] + 1)):
        return f"{cpus[0]}-{cpus[-1]}"
    return ",".join(map(str, cpus))


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a log (progress bars' carriage returns split too)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in re.split(r"[\r\n]+", text) if line.strip()][-lines:]


class Clock:
    """Prints progress lines with the seconds since the start."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, message: str) -> None:
        print(f"[{self.elapsed():7.1f} s] {message}", flush=True)


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` while the block runs."""
    def handler(signum, frame):
        raise Stopped(signum)

    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


# ---- training ----------------------------------------------------------------------------


def train_command(run: Run, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "seq2seq.cli", "fit", "--config", run.config,
               "--data.source", str(args.data), "--trainer.default_root_dir",
               str(args.out / run.name), "--seed_everything", str(run.seed)]
    if args.max_time:
        command += ["--trainer.max_time", args.max_time]
    return [*command, "--trainer.accelerator", args.accelerator,
            "--trainer.enable_progress_bar", "false", *run.overrides, *args.override]


def training_summary(root: Path) -> dict:
    """Epochs and steps trained (from ``checkpoints/last.ckpt``; an epoch that max_time or
    max_steps cut short counts, as Lightning counts it) and the best validation BLEU logged
    (``logs/version_*/metrics.csv``), None where the run left none."""
    epochs = steps = best = best_epoch = None
    with contextlib.suppress(Exception):  # no last.ckpt, or an unreadable one
        import torch

        last = torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu",
                          weights_only=True, mmap=True)
        epochs, steps = int(last["epoch"]) + 1, int(last["global_step"])
    for path in sorted(root.glob("logs/version_*/metrics.csv")):
        with open(path, newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                if row.get("val_bleu") and (best is None or float(row["val_bleu"]) > best):
                    best, best_epoch = float(row["val_bleu"]), int(float(row["epoch"]))
    return {"epochs": epochs, "steps": steps, "best_val_bleu_logged": best,
            "best_val_bleu_epoch": best_epoch}


# ---- evaluation --------------------------------------------------------------------------


@dataclasses.dataclass
class Evaluation:
    """One seq2seq-evaluate call: some checkpoints on one split."""

    model: str  # the run or ensemble
    label: str  # best, averaged, ensemble
    split: str
    checkpoints: list[str]
    files: tuple[str, str]  # source, reference
    job: Job
    output: Path

    def record(self) -> dict:
        scores = {}
        if self.job.status == "ok":
            scores = json.loads(self.job.stdout.read_text(encoding="utf-8"))
        return {"split": self.split, "checkpoints": self.checkpoints,
                "source": self.files[0], "references": self.files[1],
                "command": shlex.join(self.job.command), "exit_code": self.job.exit_code,
                "status": self.job.status, "seconds": rounded(self.job.seconds),
                "hypotheses": str(self.output), "log": str(self.job.log),
                "error": None if self.job.status == "ok" else log_tail(self.job.log, 5),
                **{metric: {"score": result["score"], "signature": result["signature"]}
                   for metric, result in scores.items()}}


def evaluation(model: str, label: str, checkpoints: list[str], split: str,
               files: tuple[str, str], plan: Plan, args: argparse.Namespace) -> Evaluation:
    folder = args.out / model / "eval"
    stem = f"{label}.{split}"
    output = folder / f"{stem}.hyp"
    command = [sys.executable, "-m", "seq2seq.commands.evaluate", "--checkpoint", *checkpoints,
               "--source", files[0], "--references", files[1], "--output", str(output),
               "--json", "--device", EVAL_DEVICES[args.accelerator], *search_flags(plan.search)]
    job = Job(f"evaluate {model} {label} {split}", command, folder / f"{stem}.log",
              stdout=folder / f"{stem}.json")
    return Evaluation(model, label, split, checkpoints, tuple(files), job, output)


def evaluations(plan: Plan, args: argparse.Namespace,
                trained: dict[str, dict]) -> tuple[list[Evaluation], dict[str, str]]:
    """The evaluations of every run that wrote a best.ckpt (also one that failed later) and
    of every ensemble whose runs all did; and, by name, why the others have none.

    In the order to run them, so that a deadline loses the least: every best.ckpt, then
    the ensembles (the longest), then every averaged.ckpt."""
    found: dict[str, list[Evaluation]] = {label: [] for label in (*CHECKPOINTS, "ensemble")}
    missing: dict[str, str] = {}
    files: dict[str, dict] = {}
    for run in plan.runs:
        record, root = trained[run.name], args.out / run.name
        if not (root / "best.ckpt").is_file():
            missing[run.name] = (f"no {root / 'best.ckpt'}: the run finished no validation "
                                 "(see its train.log)")
            continue
        try:
            files[run.name] = split_files(args.data, data_options(root / "config.yaml"),
                                          plan.splits)
        except (OSError, ValueError) as error:  # no config.yaml, or no such split
            missing[run.name] = str(error)
            continue
        for label in CHECKPOINTS:
            path = root / f"{label}.ckpt"
            if path.is_file():
                record["checkpoints"][label] = str(path)
                found[label] += [evaluation(run.name, label, [str(path)], split, pair, plan,
                                            args) for split, pair in files[run.name].items()]
    for ensemble in plan.ensembles:
        absent = [member for member in ensemble.runs if member not in files]
        if absent:
            missing[ensemble.name] = f"run(s) {absent} not evaluated"
            continue
        members = [str(args.out / member / "best.ckpt") for member in ensemble.runs]
        found["ensemble"] += [evaluation(ensemble.name, "ensemble", members, split, pair, plan,
                                         args)
                              for split, pair in files[ensemble.runs[0]].items()]
    return [*found["best"], *found["ensemble"], *found["averaged"]], missing


# ---- results -----------------------------------------------------------------------------


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def results(plan: Plan, args: argparse.Namespace, trained: dict[str, dict],
            evaluated: list[Evaluation], missing: dict[str, str], clock: Clock,
            stopped: str | None) -> dict:
    """Everything results.json holds: the setup, then one record per run and ensemble."""
    by_model: dict[str, dict[str, list]] = {}
    for item in evaluated:
        by_model.setdefault(item.model, {}).setdefault(item.label, []).append(item.record())
    runs = []
    for run in plan.runs:
        record = trained[run.name]
        record["evaluations"] = by_model.get(run.name, {})
        record["not_evaluated"] = missing.get(run.name)
        runs.append(record)
    ensembles = []
    for ensemble in plan.ensembles:
        records = by_model.get(ensemble.name, {}).get("ensemble", [])
        ensembles.append({
            "name": ensemble.name, "runs": list(ensemble.runs),
            "checkpoints": records[0]["checkpoints"] if records else
            [str(args.out / member / "best.ckpt") for member in ensemble.runs],
            "evaluations": {"ensemble": records},
            "not_evaluated": missing.get(ensemble.name)})
    return {
        "plan": plan.path, "data": str(args.data), "out": str(args.out),
        "accelerator": args.accelerator, "max_time": args.max_time,
        "overrides": args.override, "search": plan.search, "search_flags": search_flags(plan.search),
        "splits": plan.splits, "finished": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "wall_seconds": rounded(clock.elapsed()), "stopped_by": stopped,
        "python": sys.version.split()[0], "versions": package_versions(),
        "runs": runs, "ensembles": ensembles,
    }


def package_versions() -> dict[str, str | None]:
    import importlib.metadata

    versions = {}
    for name in ("torch", "pytorch-lightning", "sacrebleu", "sentencepiece", "datasets"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def score_of(records: list[dict], split: str, metric: str = "bleu") -> float | None:
    for record in records:
        if record["split"] == split and metric in record:
            return record[metric]["score"]
    return None


def cell(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def markdown(summary: dict) -> str:
    """results.md: the table (one row per checkpoint and ensemble), signatures, commands."""
    splits = list(summary["splits"])
    beam = summary["search"].get("beam_size", "default")
    head = ["model", "config, seed, overrides", "checkpoint(s)", "epochs", "train wall",
            "best val BLEU (greedy, logged)", *(f"{split} BLEU (beam {beam})" for split in splits)]
    rows = []
    for run in summary["runs"]:
        setup = setup_of(run)
        train = [cell(run["epochs"], 0), minutes(run["wall_seconds"]),
                 cell(run["best_val_bleu_logged"])]
        if run["status"] != "ok":
            rows.append([run["name"], setup, f"{run['status']} (exit {run['exit_code']})",
                         *train, *("–" for _ in splits)])
        elif run["not_evaluated"]:
            rows.append([run["name"], setup, "not evaluated", *train, *("–" for _ in splits)])
        for label, records in run["evaluations"].items():
            rows.append([run["name"], setup, f"{label}.ckpt", *train,
                         *(cell(score_of(records, split)) for split in splits)])
    for ensemble in summary["ensembles"]:
        records = ensemble["evaluations"]["ensemble"]
        rows.append([ensemble["name"], "ensemble" + (", not evaluated" if ensemble[
                         "not_evaluated"] else ""),
                     " + ".join(f"{run}/best.ckpt" for run in ensemble["runs"]),
                     "–", "–", "–", *(cell(score_of(records, split)) for split in splits)])
    lines = [f"Plan `{summary['plan']}`, data `{summary['data']}`, accelerator "
             f"{summary['accelerator']}, max_time {summary['max_time'] or 'the configs'}; "
             f"{summary['finished']}, {minutes(summary['wall_seconds'])} in all"
             + (f" (stopped by {summary['stopped_by']})" if summary["stopped_by"] else "") + ".",
             "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", f"Search: `{' '.join(summary['search_flags'])}`. Signatures: "
              + "; ".join(sorted(signatures(summary))) + ".", "", "Training commands:", ""]
    lines += [f"    {run['command']}" for run in summary["runs"]]
    example = next((records[0]["command"] for run in summary["runs"]
                    for records in run["evaluations"].values() if records), None)
    if example:
        lines += ["", "Evaluation, e.g.:", "", f"    {example}"]
    return "\n".join(lines) + "\n"


def setup_of(run: dict) -> str:
    """A run's config (its file's stem), seed and overrides, for the table."""
    setup = f"{Path(run['config']).stem}, seed {run['seed']}"
    return f"{setup}, `{shlex.join(run['overrides'])}`" if run["overrides"] else setup


def signatures(summary: dict) -> set[str]:
    found = set()
    for model in [*summary["runs"], *summary["ensembles"]]:
        for records in model["evaluations"].values():
            found |= {f"{metric} `{record[metric]['signature']}`" for record in records
                      for metric in ("bleu",) if metric in record}
    return found


def write_results(summary: dict, out: Path) -> str:
    (out / "results.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    table = markdown(summary)
    (out / "results.md").write_text(table, encoding="utf-8")
    return table


# ---- the command -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", required=True, help="the plan (YAML)")
    parser.add_argument("--data", required=True, type=Path,
                        help="directory of the corpus' {stem}.{lang}[.gz] files")
    parser.add_argument("--out", required=True, type=Path,
                        help="one folder per run and ensemble, results.json and results.md")
    parser.add_argument("--max-time", help="--trainer.max_time of every run (DD:HH:MM:SS)")
    parser.add_argument("--accelerator", choices=sorted(EVAL_DEVICES), default="auto",
                        help="--trainer.accelerator, and where evaluation runs (default auto)")
    parser.add_argument("--parallel", type=int, help="runs at once (default: all)")
    parser.add_argument("--eval-parallel", type=int,
                        help="evaluations at once (default: --parallel, or one per CPU)")
    parser.add_argument("--runs", nargs="+", metavar="NAME", help="only these runs (and the "
                        "ensembles of them)")
    parser.add_argument("--override", action="append", default=[], metavar="ARGS",
                        type=shlex.split, help="seq2seq-train arguments for every run, one "
                        "quoted string each: --override '--trainer.max_epochs 60'")
    return parser


def check_arguments(args: argparse.Namespace, plan: Plan) -> None:
    for name in ("parallel", "eval_parallel"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise PlanError(f"--{name.replace('_', '-')} must be positive, got {value}")
    for run in plan.runs:
        root = args.out / run.name
        if root.exists() and any(root.iterdir()):
            raise PlanError(f"{plan.path}: run {run.name}: {root} is not empty; a run starts "
                            "in a new folder (remove it, or choose another --out)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.override = [item for items in args.override for item in items]
    try:
        plan = selected(load_plan(args.plan), args.runs)
        check_arguments(args, plan)
        check_data(plan, args.data)
    except PlanError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr, flush=True)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    return run_plan(plan, args)


def run_plan(plan: Plan, args: argparse.Namespace) -> int:
    """Train, evaluate, write the results; the exit status."""
    clock, stopped = Clock(), None
    jobs = {run.name: Job(f"train {run.name}", train_command(run, args),
                          args.out / run.name / "train.log") for run in plan.runs}
    trained: dict[str, dict] | None = None
    evaluated: list[Evaluation] = []
    missing: dict[str, str] = {}
    with stopped_by_signals():
        try:
            run_jobs(list(jobs.values()), args.parallel or len(jobs), clock)
            trained = training_records(plan, args, jobs)
            evaluated, missing = evaluations(plan, args, trained)
            if evaluated:
                run_jobs([item.job for item in evaluated],
                         args.eval_parallel or args.parallel or len(available_cpus()), clock)
        except Stopped as signal_received:
            stopped = str(signal_received)
            trained = trained or training_records(plan, args, jobs)
    table = write_results(results(plan, args, trained, evaluated, missing, clock, stopped),
                          args.out)
    print(f"\n{table}", flush=True)
    report_failures(trained, evaluated, missing)
    if stopped:
        return 128 + signal.Signals[stopped].value
    failed = [job for job in [*jobs.values(), *(item.job for item in evaluated)]
              if job.status != "ok"]
    return 1 if failed or missing else 0


def training_records(plan: Plan, args: argparse.Namespace, jobs: dict[str, Job]) -> dict[str, dict]:
    records = {}
    for run in plan.runs:
        job, root = jobs[run.name], args.out / run.name
        records[run.name] = {
            "name": run.name, "config": run.config, "seed": run.seed,
            "overrides": list(run.overrides), "command": shlex.join(job.command),
            "status": job.status, "exit_code": job.exit_code,
            "wall_seconds": rounded(job.seconds), "cpus": job.cpus, "log": str(job.log),
            "error": None if job.status == "ok" else log_tail(job.log),
            "checkpoints": {}, **training_summary(root)}
    return records


def report_failures(trained: dict[str, dict], evaluated: list[Evaluation],
                    missing: dict[str, str]) -> None:
    for record in trained.values():
        if record["status"] != "ok":
            print(f"{PROG}: run {record['name']} {record['status']} (exit "
                  f"{record['exit_code']}); the end of {record['log']}:", file=sys.stderr)
            for line in record["error"]:
                print(f"    {line}", file=sys.stderr)
    for name, reason in missing.items():
        print(f"{PROG}: {name} not evaluated: {reason}", file=sys.stderr)
    for item in evaluated:
        if item.job.status != "ok":
            print(f"{PROG}: {item.job.name} {item.job.status} (exit {item.job.exit_code}); "
                  f"the end of {item.job.log}:", file=sys.stderr)
            for line in log_tail(item.job.log, 5):
                print(f"    {line}", file=sys.stderr)
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
