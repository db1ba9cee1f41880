"""Command-line tools, one module each, and the helpers they share.

    seq2seq-translate   text in, translations out (seq2seq.commands.translate)
    seq2seq-evaluate    BLEU, chrF and TER with signatures (seq2seq.commands.evaluate)
    seq2seq-score       log p(target | source) per line (seq2seq.commands.score)
    seq2seq-average     average the weights of checkpoints (seq2seq.commands.average)

Every ``main(argv=None) -> int`` returns the exit status: 0 on success, 1 for bad input
data (a missing file, invalid UTF-8, files of different lengths), 2 for bad usage or a
bad checkpoint. Errors are one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from seq2seq.checkpoint import CheckpointError
from seq2seq.data import DataError, read_lines
from seq2seq.translator import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_SRC_TOKENS, DTYPES, Translator

EXIT_INPUT_ERROR = 1
EXIT_USAGE_ERROR = 2
STDIO = "-"


class CommandError(ValueError):
    """A problem with the command's input; the message says which and what to do."""


def run_command(prog: str, command: Callable[[argparse.Namespace], int],
                args: argparse.Namespace) -> int:
    """Run ``command(args)``, turning the errors users cause into a message and exit status."""
    try:
        return command(args)
    except CheckpointError as error:
        return _fail(prog, error, EXIT_USAGE_ERROR)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INPUT_ERROR
    except (DataError, CommandError, OSError) as error:
        return _fail(prog, error, EXIT_INPUT_ERROR)
    except KeyboardInterrupt:
        return 130


def _fail(prog: str, error: Exception, status: int) -> int:
    print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
    return status


# ---- arguments ---------------------------------------------------------------------------


def add_model_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Where and in what precision to run the model (``--checkpoint`` itself each command adds)."""
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:N, or auto (CUDA if available; default)")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32",
                        help="precision of the weights and the model's arithmetic; scores are "
                             "computed in float32 either way. bfloat16 runs faster on CPUs with "
                             "AMX (measured: docs/BENCHMARKS.md) and may change the output a "
                             "little (default float32)")
    parser.add_argument("--max-tokens", type=int, default=4000,
                        help="batch budget in padded tokens: source tokens × beam size when "
                             "translating, source + target tokens when scoring (default 4000)")


def add_search_arguments(parser: argparse.ArgumentParser, *, nbest: bool = True) -> None:
    """Decoding options; see :func:`seq2seq.search.beam_search`."""
    group = parser.add_argument_group("search")
    group.add_argument("--beam-size", type=int, default=5,
                       help="beams per sentence; 1 is greedy search (default 5)")
    if nbest:
        group.add_argument("--nbest", type=int, default=1,
                           help="hypotheses per sentence, at most --beam-size (default 1)")
    group.add_argument("--alpha", type=float, default=1.0,
                       help="length normalisation: score = log p / (tokens + 1) ** alpha; "
                            "0 is raw log probability (default 1.0)")
    group.add_argument("--max-len-a", type=float, default=1.5,
                       help="at most int(a * source tokens + b) target tokens (default a=1.5)")
    group.add_argument("--max-len-b", type=float, default=10, help="(default b=10)")
    group.add_argument("--min-length", type=int, default=0,
                       help="target tokens before EOS is allowed (default 0)")
    group.add_argument("--ban-unk", action="store_true", help="never output <unk>")
    group.add_argument("--exact-stop", action="store_true",
                       help="beam search: keep searching until no live beam can beat the K "
                            "finished ones (default: stop at K finished, as fairseq does)")
    group.add_argument("--max-src-tokens", type=int, default=DEFAULT_MAX_SRC_TOKENS,
                       help="truncate longer inputs, with a warning naming the line "
                            f"(default {DEFAULT_MAX_SRC_TOKENS})")
    group.add_argument("--buffer-size", type=int, default=DEFAULT_CHUNK_SIZE,
                       help="lines read, sorted and batched at a time "
                            f"(default {DEFAULT_CHUNK_SIZE})")


def check_search_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors in the search options, reported by ``parser.error`` (exit status 2)."""
    nbest = getattr(args, "nbest", 1)
    if args.beam_size < 1 or not 1 <= nbest <= args.beam_size:
        parser.error(f"need 1 <= --nbest <= --beam-size (got {nbest} and {args.beam_size})")
    positive = {"--max-tokens": args.max_tokens, "--max-src-tokens": args.max_src_tokens,
                "--buffer-size": args.buffer_size}
    for name, value in positive.items():
        if value < 1:
            parser.error(f"{name} must be positive, got {value}")
    if args.alpha < 0:
        parser.error(f"--alpha must be >= 0, got {args.alpha}")


def search_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :meth:`Translator.translate_stream` from parsed arguments."""
    return {"beam_size": args.beam_size, "nbest": getattr(args, "nbest", 1), "alpha": args.alpha,
            "max_tokens": args.max_tokens, "max_len_a": args.max_len_a,
            "max_len_b": args.max_len_b, "min_length": args.min_length, "ban_unk": args.ban_unk,
            "exact_stop": args.exact_stop}


def load_translator(args: argparse.Namespace) -> Translator:
    with loading_checkpoint(args.checkpoint):
        return Translator.from_checkpoint(
            args.checkpoint, args.device, dtype=args.dtype,
            max_src_tokens=getattr(args, "max_src_tokens", DEFAULT_MAX_SRC_TOKENS),
            chunk_size=getattr(args, "buffer_size", DEFAULT_CHUNK_SIZE))


@contextlib.contextmanager
def loading_checkpoint(path: str) -> Iterator[None]:
    """Any failure to load ``path`` becomes a :class:`CheckpointError` naming it.

    ``torch.load`` fails on some damaged files with errors that
    :func:`seq2seq.checkpoint.read_checkpoint` does not expect (an IndexError from the
    unpickler), and a bad ``--device`` name fails in ``torch.device``.
    """
    try:
        yield
    except CheckpointError:
        raise
    except Exception as error:  # reported as what it is, naming the file
        raise CheckpointError(f"cannot load checkpoint {path}: {type(error).__name__}: "
                              f"{error}") from error


# ---- files -------------------------------------------------------------------------------


def input_lines(path: str | None) -> Iterator[str]:
    """Lines of a UTF-8 file, or of stdin for ``None``/``-``, without line endings.

    Decoding is strict and per line: invalid UTF-8 raises :class:`DataError` naming the
    line, after the lines before it have been yielded.
    """
    if path not in (None, STDIO):
        yield from read_lines(path)
        return
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"<stdin>:{number}: invalid UTF-8 ({error.reason} at byte "
                            f"{error.start + 1} of the line)") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield text.rstrip("\r\n")


def read_text_file(path: str) -> list[str]:
    """All lines of a file, right-stripped as the ``sacrebleu`` command reads them."""
    return [line.rstrip() for line in input_lines(path)]


def check_line_counts(files: Sequence[tuple[str, list]]) -> None:
    """Raise :class:`CommandError` naming the files unless all (name, lines) have as many."""
    if len({len(lines) for _, lines in files}) > 1:
        described = ", ".join(f"{name} has {len(lines)}" for name, lines in files)
        raise CommandError(f"files must have the same number of lines, but {described}")


def check_not_an_input(output: str | None, inputs: Sequence[str | None]) -> None:
    """Raise :class:`CommandError` if the ``output`` path is one of the ``inputs``."""
    if output in (None, STDIO):
        return
    for path in inputs:
        if path not in (None, STDIO) and Path(path).resolve() == Path(output).resolve():
            raise CommandError(f"the output {output} is also an input; refusing to overwrite it")


@contextlib.contextmanager
def output_stream(path: str | None) -> Iterator[TextIO]:
    """A UTF-8 text file to write (its folder created), or stdout for ``None``/``-``."""
    if path in (None, STDIO):
        yield sys.stdout
        sys.stdout.flush()
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        yield stream


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
