"""One writer per run directory: ``<root>/.lock``, held by the process that launched a run.

The lock is an ``flock``, so the system releases it when its holder dies, even by SIGKILL:
a lock left by a dead run is simply taken over. Ranks that a run starts (Lightning's DDP
processes, torchrun, SLURM, LSF) do not take it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class RunDirectoryInUse(RuntimeError):
    """Another live run holds the run directory; the message names it and the holder."""


class RunLock:
    """``<root>/.lock``: an exclusive ``flock`` on a file naming its holder ("pid host").

    The file stays after a run (its content emptied); a lock left by a dead process is
    free, since the system drops an ``flock`` with its holder, and is simply taken over.
    """

    def __init__(self, root: Path):
        self.path = root / LOCK_NAME
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "the run directory is not a directory",
                                     str(root))
        root.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a+")  # noqa: SIM115 (held open until release())
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().split() or ["unknown", "unknown"]
            self._file.close()
            raise RunDirectoryInUse(
                f"{root} is in use by another run (pid {holder[0]} on {holder[-1]}, lock file "
                f"{self.path}); wait for it to end or give another --trainer.default_root_dir"
            ) from None
        except OSError as error:  # a file system without flock: run unguarded, and say so
            if error.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            log.warning("cannot lock %s (%s); not guarded against a second run there",
                        self.path, error.strerror)
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()} {socket.gethostname()}\n")
        self._file.flush()

    def release(self) -> None:
        self._file.truncate(0)
        self._file.close()  # drops the flock


def is_launching_process() -> bool:
    """Global rank 0: not a rank that Lightning, torchrun, SLURM or LSF started for a run.

    Lightning gives the ranks it spawns LOCAL_RANK, torchrun sets RANK, srun SLURM_PROCID;
    NODE_RANK/GROUP_RANK say which node.
    """
    keys = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
    return all(os.environ.get(key, "0").strip() in ("0", "") for key in keys)
