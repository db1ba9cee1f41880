"""The commands' input: lines from files and stdin, cut into chunks at pauses of a pipe."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from seq2seq.commands.reading import input_chunks
from seq2seq.data import DataError


@pytest.fixture
def stdin_pipe(monkeypatch):
    """stdin reads a pipe; the test writes to the returned file descriptor."""
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", os.fdopen(read_end, "r"))
    yield write_end
    try:
        os.close(write_end)
    except OSError:
        pass
    sys.stdin.close()


def next_within(chunks, seconds: float = 10.0):
    """``next(chunks)``, failing the test instead of hanging if it blocks."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(next(chunks)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"no chunk within {seconds} s: the reader waited for more input"
    return result[0]


def test_a_pause_in_a_pipe_gives_back_the_lines_that_came(stdin_pipe):
    chunks = input_chunks(None, 100)
    os.write(stdin_pipe, b"eins\nzwei\n")
    assert next_within(chunks) == ["eins", "zwei"]  # the writer is still there, and waits
    os.write(stdin_pipe, b"drei\n")
    assert next_within(chunks) == ["drei"]
    os.close(stdin_pipe)
    assert list(chunks) == []


def test_a_pipe_that_keeps_up_fills_chunks_of_the_buffer_size(stdin_pipe):
    os.write(stdin_pipe, b"a\nb\r\nc\nd\ne")  # CRLF, and no line break at the end
    os.close(stdin_pipe)
    assert list(input_chunks(None, 2)) == [["a", "b"], ["c", "d"], ["e"]]


def test_invalid_utf8_in_a_pipe_comes_after_the_lines_before_it(stdin_pipe):
    os.write(stdin_pipe, b"\xef\xbb\xbferste\nzweite\ndr\xffitte\nvierte\n")
    os.close(stdin_pipe)
    chunks = input_chunks(None, 10)
    assert next(chunks) == ["erste", "zweite"]  # byte-order mark dropped
    with pytest.raises(DataError, match=r"<stdin>:3: invalid UTF-8 \(invalid start byte at "
                                        r"byte 3 of the line\)"):
        next(chunks)


def test_a_file_is_read_in_whole_chunks(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("".join(f"line {i}\n" for i in range(5)), encoding="utf-8")
    assert list(input_chunks(str(path), 2)) == [["line 0", "line 1"], ["line 2", "line 3"],
                                                ["line 4"]]
