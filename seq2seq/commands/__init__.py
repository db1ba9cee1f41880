"""Command-line tools, one module each, and the helpers they share.

    seq2seq-translate   text in, translations out (seq2seq.commands.translate)
    seq2seq-evaluate    BLEU, chrF and TER with signatures (seq2seq.commands.evaluate)
    seq2seq-score       log p(target | source) per line (seq2seq.commands.score)
    seq2seq-average     average the weights of checkpoints (seq2seq.commands.average)

Every ``main(argv=None) -> int`` returns the exit status: 0 on success, 1 for bad input
data (a missing file, invalid UTF-8, files of different lengths), 2 for bad usage or a
bad checkpoint, 141 (128 + SIGPIPE, as a shell reports a command killed by it) when the
reader of stdout goes away (``| head``), silently. Errors are one line on stderr, without
a traceback.

An output file is never one of the inputs, checkpoint included (the same file by any
name, hard and symbolic links too), and it is replaced only when the command succeeds:
see :func:`output_stream`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import io
import math
import os
import re
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from seq2seq.checkpoint import CheckpointError
from seq2seq.commands.reading import STDIO
from seq2seq.data import DataError
from seq2seq.export.folder import BACKENDS, load_checkpoint_or_folder, load_onnx_ensemble
from seq2seq.files import atomic_write
from seq2seq.search import SearchOptionError, SearchOptions
from seq2seq.translator import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_SRC_TOKENS,
    DEFAULT_MAX_TOKENS,
    DTYPES,
    Translator,
    resolve_device,
)

EXIT_INPUT_ERROR = 1
EXIT_USAGE_ERROR = 2
EXIT_BROKEN_PIPE = 141


class CommandError(ValueError):
    """A problem with the command's input; the message says which and what to do."""


class UsageError(ValueError):
    """An option value found bad only when it is used (exit status 2); the message names it."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so that partial outputs are removed."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _terminated_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` while the block runs (from the main
    thread only, and not where they are ignored, as under ``nohup``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    for signum, handler in previous.items():
        if handler is signal.SIG_DFL:
            signal.signal(signum, _terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_command(prog: str, command: Callable[[argparse.Namespace], int],
                args: argparse.Namespace) -> int:
    """Run ``command(args)``, turning the errors users cause into a message and exit status.

    Outputs are UTF-8 whatever the locale, and SIGTERM and SIGHUP stop the command as
    Ctrl-C does (exit status 128 + the signal), leaving no partial file behind.
    """
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace"
                               if stream is sys.stderr else "strict")
    with _terminated_as_interrupts():
        return _run(prog, command, args)


def _run(prog: str, command: Callable[[argparse.Namespace], int],
         args: argparse.Namespace) -> int:
    try:
        return command(args)
    except Terminated as terminated:
        return 128 + terminated.signum
    except (CheckpointError, UsageError) as error:
        return fail(prog, error, EXIT_USAGE_ERROR)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        # Python flushes stdout again at exit; that must not fail (and print) a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (DataError, CommandError, OSError) as error:
        return fail(prog, error, EXIT_INPUT_ERROR)
    except KeyboardInterrupt:
        return 130


def fail(prog: str, error: Exception, status: int) -> int:
    """Print ``prog: error: ...`` on stderr, one line; return ``status``."""
    print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
    return status


# ---- arguments ---------------------------------------------------------------------------


CHECKPOINT_HELP = ("translation checkpoint, model folder (seq2seq-export) or hf://org/name"
                   "[@revision]; several are decoded as one ensemble (their log probabilities "
                   "averaged at each step; they must share vocabularies)")


def add_model_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Where and in what precision to run the model (``--checkpoint`` itself each command
    adds: ``nargs="+"``, :data:`CHECKPOINT_HELP`)."""
    parser.add_argument("--ensemble-weights", type=float, nargs="+", metavar="W",
                        help="one positive weight per --checkpoint for the ensemble's average "
                             "(default: equal)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="torch: our model (checkpoint files and model folders); "
                             "onnxruntime: a model folder's exported graphs, on the CPU, with "
                             "the same search (default torch)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:N, or auto (CUDA if available; default)")
    parser.add_argument("--dtype", choices=[*DTYPES, "int8"], default="float32",
                        help="precision of the weights and the model's arithmetic; scores are "
                             "computed in float32 either way. bfloat16 runs faster on CPUs with "
                             "AMX (measured: docs/BENCHMARKS.md) and may change the output a "
                             "little; int8: the int8 graphs of a folder exported with "
                             "--quantize int8 (--backend onnxruntime) (default float32)")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                        help="batch budget in padded tokens: source tokens × beam size when "
                             "translating, source + target tokens when scoring "
                             f"(default {DEFAULT_MAX_TOKENS})")


SEARCH_DEFAULTS = SearchOptions()


def add_search_arguments(parser: argparse.ArgumentParser, *, nbest: bool = True) -> None:
    """Decoding options: :class:`seq2seq.search.SearchOptions`, and how input is read."""
    defaults = SEARCH_DEFAULTS
    group = parser.add_argument_group("search")
    group.add_argument("--beam-size", type=int, default=defaults.beam_size,
                       help=f"beams per sentence; 1 is greedy search (default {defaults.beam_size})")
    if nbest:
        group.add_argument("--nbest", type=int, default=defaults.nbest,
                           help=f"hypotheses per sentence, at most --beam-size "
                                f"(default {defaults.nbest})")
    group.add_argument("--alpha", type=float, default=defaults.alpha,
                       help="length normalisation: score = log p / (tokens + 1) ** alpha; "
                            f"0 is raw log probability (default {defaults.alpha})")
    group.add_argument("--max-len-a", type=float, default=defaults.max_len_a,
                       help="at most int(a * source tokens + b) target tokens "
                            f"(default a={defaults.max_len_a})")
    group.add_argument("--max-len-b", type=float, default=defaults.max_len_b,
                       help=f"(default b={defaults.max_len_b})")
    group.add_argument("--min-length", type=int, default=defaults.min_length,
                       help="target tokens before EOS is allowed, at most int(a + b) "
                            f"(default {defaults.min_length})")
    group.add_argument("--ban-unk", action="store_true", help="never output <unk>")
    group.add_argument("--exact-stop", action="store_true",
                       help="beam search: keep searching until no live beam can beat the K "
                            "finished ones (default: stop at K finished, as fairseq does)")
    if nbest:
        sampling = parser.add_argument_group("sampling (instead of search)")
        sampling.add_argument("--sample", dest="sampling", action="store_true",
                              help="draw --nbest samples per sentence from the model instead "
                                   "of searching (--beam-size is then not used)")
        sampling.add_argument("--temperature", type=float, default=defaults.temperature,
                              help="sampling temperature; 0 takes the most probable token "
                                   f"(default {defaults.temperature})")
        sampling.add_argument("--top-k", type=int, default=defaults.top_k,
                              help="sample among the k most probable tokens; 0 for all "
                                   f"(default {defaults.top_k})")
        sampling.add_argument("--top-p", type=float, default=defaults.top_p,
                              help="sample among the most probable tokens whose probability "
                                   f"reaches p (nucleus sampling; default {defaults.top_p})")
        sampling.add_argument("--seed", type=int, default=defaults.seed,
                              help="random seed: the same seed, input and options give the "
                                   "same samples (default: a fresh draw each run)")
    group.add_argument("--max-src-tokens", type=int, default=DEFAULT_MAX_SRC_TOKENS,
                       help="truncate longer inputs, with a warning naming the line "
                            f"(default {DEFAULT_MAX_SRC_TOKENS})")
    group.add_argument("--buffer-size", type=int, default=DEFAULT_CHUNK_SIZE,
                       help="lines read, sorted and batched at a time; from a pipe or "
                            "terminal, whatever has arrived when the input pauses is "
                            f"translated at once (default {DEFAULT_CHUNK_SIZE})")


def check_search_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors in the search options, reported by ``parser.error`` (exit status 2)."""
    try:
        search_options(args)
    except SearchOptionError as error:
        parser.error(_as_flags(str(error)))
    check_positive_arguments(parser, args, "max_tokens", "max_src_tokens", "buffer_size")


def check_positive_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace,
                             *names: str) -> None:
    """``parser.error`` (exit status 2) naming the first of ``names`` below 1 (None, an
    option left to its default, passes)."""
    for name in names:
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")


def search_options(args: argparse.Namespace) -> SearchOptions:
    """The :class:`SearchOptions` of parsed arguments (raises :class:`SearchOptionError`)."""
    return SearchOptions(**{field.name: getattr(args, field.name, getattr(SEARCH_DEFAULTS, field.name))
                            for field in dataclasses.fields(SearchOptions)})


def _as_flags(message: str) -> str:
    """``message`` with option names written as the command line's flags (``--beam-size``)."""
    names = "|".join([field.name for field in dataclasses.fields(SearchOptions)]
                     + ["max_tokens", "max_src_tokens", "buffer_size"])
    return re.sub(rf"\b({names})\b", lambda match: "--" + match[1].replace("_", "-"), message)


def check_ensemble_weights(weights: list[float] | None, checkpoints: list[str]) -> None:
    """UsageError unless ``--ensemble-weights`` is absent or one positive, finite weight per
    ``--checkpoint``."""
    if weights is not None and len(weights) != len(checkpoints):
        raise UsageError(f"--ensemble-weights: {len(weights)} weights for "
                         f"{len(checkpoints)} checkpoints")
    if weights is not None and not all(0 < weight < math.inf for weight in weights):
        raise UsageError(f"--ensemble-weights must be positive and finite, got {weights}")


def load_translator(args: argparse.Namespace) -> Translator:
    """The translator of ``--checkpoint`` (one or an ensemble: checkpoint files, model
    folders, ``hf://org/name``) on ``--device`` with ``--backend``; a bad device, dtype or
    weights are usage errors."""
    backend = getattr(args, "backend", "torch")
    device_name = "cpu" if backend == "onnxruntime" and args.device == "auto" else args.device
    try:
        device = resolve_device(device_name)
    except ValueError as error:
        raise UsageError(f"--device {args.device}: {error}") from None
    weights = args.ensemble_weights
    check_ensemble_weights(weights, args.checkpoint)
    options = {"max_src_tokens": getattr(args, "max_src_tokens", DEFAULT_MAX_SRC_TOKENS),
               "chunk_size": getattr(args, "buffer_size", DEFAULT_CHUNK_SIZE)}
    if backend == "onnxruntime":
        if device.type != "cpu":
            raise UsageError(f"--backend onnxruntime runs on the CPU, not --device {args.device}")
        if args.dtype not in ("float32", "int8"):
            raise UsageError(f"--dtype {args.dtype}: --backend onnxruntime runs float32 or int8 "
                             "graphs")
        decoder, tokenizers = load_onnx_ensemble(args.checkpoint, args.dtype, weights)
        return Translator(decoder, tokenizers, device=device, **options)
    if args.dtype == "int8":
        raise UsageError("--dtype int8 needs --backend onnxruntime (and a model folder exported "
                         "with --quantize int8)")
    checkpoints = []
    for path in args.checkpoint:
        with loading_checkpoint(path):
            checkpoints.append(load_checkpoint_or_folder(path, device))
    return Translator.from_loaded(checkpoints, args.checkpoint, dtype=args.dtype,
                                  weights=weights, **options)


@contextlib.contextmanager
def loading_checkpoint(path: str) -> Iterator[None]:
    """Any failure to load ``path`` becomes a :class:`CheckpointError` naming it.

    ``torch.load`` fails on some damaged files with errors that
    :func:`seq2seq.checkpoint.read_checkpoint` does not expect (an IndexError from the
    unpickler).
    """
    try:
        yield
    except CheckpointError:
        raise
    except Exception as error:  # reported as what it is, naming the file
        raise CheckpointError(f"cannot load checkpoint {path}: {type(error).__name__}: "
                              f"{error}") from error


# ---- files -------------------------------------------------------------------------------


def check_parallel_files(files: Sequence[tuple[str, list]]) -> None:
    """Raise :class:`CommandError` naming the files unless all (name, lines) have as many,
    and some."""
    if len({len(lines) for _, lines in files}) > 1:
        described = ", ".join(f"{name} has {len(lines)}" for name, lines in files)
        raise CommandError(f"files must have the same number of lines, but {described}")
    if not files[0][1]:
        raise CommandError(f"nothing to score: {', '.join(name for name, _ in files)} "
                           "have no lines")


def check_not_an_input(output: str | None, inputs: Sequence[str | None]) -> None:
    """Raise :class:`CommandError` if the ``output`` file is one of the ``inputs``.

    Files are compared by identity (device and inode), so another path to the same file,
    through a hard or symbolic link, is caught too; an input of ``None``/``-`` is stdin,
    caught when it is redirected from the output file.
    """
    if output in (None, STDIO):
        return
    for path in inputs:
        if _same_regular_file(output, path):
            raise CommandError(f"the output {output} is also an input; refusing to overwrite it")


DESCRIPTOR_PATH = re.compile(r"/dev/(fd/\d+|stdout|stderr)|/proc/(self|\d+)/fd/\d+")


def _names_stdout(path: str) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError):  # no such file, or stdout is not a real descriptor
        return False


def _same_regular_file(output: str, path: str | None) -> bool:
    try:
        ours = os.stat(output)
        theirs = os.fstat(sys.stdin.fileno()) if path in (None, STDIO) else os.stat(path)
    except (OSError, ValueError):  # one does not exist (yet), or stdin is not a file
        return False
    # Only a regular file can be lost: writing to /dev/null that is also stdin harms nothing.
    return stat.S_ISREG(ours.st_mode) and os.path.samestat(ours, theirs)


@contextlib.contextmanager
def output_stream(path: str | None, *, gzipped: bool = False) -> Iterator[TextIO]:
    """A UTF-8 text file to write (its folder created; gzip-compressed with ``gzipped``), or
    stdout for ``None``/``-``.

    A file is written by :func:`seq2seq.files.atomic_write`: it replaces ``path``
    (through a symbolic link, the file it points to) only when the block ends without an
    error, and keeps the permissions of the file it replaces; after any error a previous
    file at ``path`` is as it was. A ``path`` that exists and is not a regular file
    (``/dev/null``, a FIFO) is written directly; one that names an open descriptor
    (``/dev/stdout``, ``/proc/self/fd/N``) is written through it, appending, since the
    file behind it belongs to whoever opened it (``>> log``).
    """
    if path in (None, STDIO) or _names_stdout(path):
        yield sys.stdout
        sys.stdout.flush()
        return
    names_descriptor = DESCRIPTOR_PATH.fullmatch(os.path.abspath(path)) is not None
    if names_descriptor or (os.path.exists(path) and not os.path.isfile(path)):
        with open(path, "a" if names_descriptor else "w", encoding="utf-8",
                  newline="\n") as stream:
            yield stream
        return
    with atomic_write(path) as binary:
        with contextlib.suppress(FileNotFoundError):  # a private file must stay private
            os.chmod(binary.fileno(), stat.S_IMODE(os.stat(path).st_mode))
        with gzip.GzipFile(fileobj=binary, mode="wb") if gzipped else contextlib.nullcontext(
                binary) as raw:
            stream = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            yield stream
            stream.flush()
            stream.detach()  # the file is closed by its owner (gzip's end is written here)


def single_line(text: str) -> str:
    """``text`` with line breaks and tabs turned into spaces, so it fills one field."""
    return text.replace("\r", " ").replace("\n", " ").replace("\t", " ")


class Progress:
    """Lines done, on stderr, every ``every`` lines and at the end (when ``enabled``)."""

    def __init__(self, prog: str, enabled: bool, every: int):
        self.prog, self.enabled, self.every = prog, enabled, every
        self.done, self.start = 0, time.perf_counter()

    def step(self) -> None:
        self.done += 1
        if self.enabled and self.done % self.every == 0:
            self._report()

    def finish(self) -> None:
        if self.enabled and self.done % self.every:
            self._report()

    def _report(self) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"{self.prog}: {self.done} lines done ({elapsed:.1f} s, "
              f"{self.done / max(elapsed, 1e-9):.1f} lines/s)", file=sys.stderr, flush=True)
