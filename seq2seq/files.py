"""Writing files so that a failure never leaves a half-written one where a good one was."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write that replaces ``path`` only once it is complete and on disk.

    The data goes to a temporary file in ``path``'s own folder (a rename within one file
    system is atomic; one from ``$TMPDIR`` may not be), is flushed and fsynced, and is then
    renamed onto ``path``. After any failure, a full disk or an interrupt, the temporary
    file is removed and a previous file at ``path`` is as it was; the error is an OSError
    naming ``path``. Only a kill (SIGKILL, power loss) leaves a ``.NAME.*.partial`` file.
    """
    final = Path(os.path.realpath(path))
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.{secrets.token_hex(4)}.partial")
    try:
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, final)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:  # ENOSPC names no file
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise
    _fsync_directory(final.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform can open a folder)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
