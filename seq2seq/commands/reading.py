"""Reading the commands' input: UTF-8 lines from files or stdin, and chunks of them.

Decoding is strict and per line: invalid UTF-8 raises :class:`~seq2seq.data.DataError`
naming the line, after the lines before it have been given out.
"""

from __future__ import annotations

import os
import select
import stat
import sys
from collections.abc import Iterator

from seq2seq.data import DataError, read_lines
from seq2seq.translator import chunked

STDIO = "-"
# How long a pipe or terminal may stay quiet before the lines that came are translated.
# Long enough for a fast writer to fill a chunk, short next to a person's typing.
PAUSE_SECONDS = 0.05
READ_SIZE = 1 << 16


def input_lines(path: str | None) -> Iterator[str]:
    """Lines of a UTF-8 file, or of stdin for ``None``/``-``, without line endings."""
    if path not in (None, STDIO):
        yield from read_lines(path)
        return
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        yield _decoded(raw, number)


def input_chunks(path: str | None, size: int) -> Iterator[list[str]]:
    """Lines of a file or stdin in lists of at most ``size``.

    From a pipe or terminal a list also ends when no more input is waiting, so that a
    caller who writes one line and waits for its translation gets it (as with
    ``fairseq-interactive``), while a file or a writer that keeps up still fills whole lists.
    """
    fd = _interactive_stdin_fd() if path in (None, STDIO) else None
    if fd is None:
        return chunked(input_lines(path), size)
    return _chunks_until_pause(fd, size)


def read_text_file(path: str) -> list[str]:
    """All lines of a file, right-stripped as the ``sacrebleu`` command reads them."""
    return [line.rstrip() for line in input_lines(path)]


def _interactive_stdin_fd() -> int | None:
    """stdin's file descriptor if it is a pipe, socket or terminal; None for a file or none."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an in-memory stream
        return None
    mode = os.fstat(fd).st_mode
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd) else None


def _chunks_until_pause(fd: int, size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    pending, number = bytearray(), 0  # the bytes after the last line break read so far
    try:
        while True:
            if chunk and not select.select([fd], [], [], PAUSE_SECONDS)[0]:
                yield chunk  # the writer paused: translate what has come
                chunk = []
                continue
            data = os.read(fd, READ_SIZE)
            if not data:
                break
            pending += data
            if b"\n" not in data:  # still inside one line: nothing to split or copy yet
                continue
            end = pending.rfind(b"\n")  # within ``data``, found from its end
            complete = bytes(pending[:end]).split(b"\n")
            del pending[:end + 1]
            for raw in complete:
                number += 1
                chunk.append(_decoded(raw, number))
                if len(chunk) == size:
                    yield chunk
                    chunk = []
        if pending:
            chunk.append(_decoded(bytes(pending), number + 1))
    except DataError:
        if chunk:
            yield chunk  # the lines before the bad one are translated first
        raise
    if chunk:
        yield chunk


def _decoded(raw: bytes, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"<stdin>:{number}: invalid UTF-8 ({error.reason} at byte "
                        f"{error.start + 1} of the line)") from None
    if number == 1:
        text = text.removeprefix("\ufeff")
    return text.rstrip("\r\n")
