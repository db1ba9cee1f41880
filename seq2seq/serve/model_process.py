"""The served model in a process of its own, as ``seq2seq-serve`` runs it.

    model = ModelProcess(ModelSpec(("runs/demo/best.ckpt",), device="cpu"))
    model.info.source_language                  # read by the child, sent back once
    model.translate(["ein Hund ."], SearchOptions(), alignments=False, max_tokens=4000)
    model.close()
    replicas = start_replicas(ModelSpec(("runs/demo/best.ckpt",), threads=1), count=2)

Why a process: the server outlives its model. A translator killed by the kernel's OOM
killer, or one stuck in a call at shutdown, is a child to restart or kill, where a thread
could only take the server down or be abandoned. The search also gets a GIL and a main
thread of its own, away from the HTTP event loop; on the 2-core development machine that
changed throughput by nothing measurable (docs/BENCHMARKS.md). Batches and translations
cross a pipe, a few kilobytes each.

A child that dies while translating (killed, out of memory) fails that call with
:class:`ModelProcessDied`; the next call starts a new child, so the batcher's
one-request-at-a-time retry isolates a request that kills it. A child found dead between
calls is replaced before the next call, which does not fail. The child ignores SIGINT and
SIGTERM: a Ctrl-C in the terminal (which reaches the whole process group) or a service
manager's SIGTERM to every process of the server lets the parent finish the requests in
flight and then stop the child with :meth:`ModelProcess.close`. If the parent dies, the
child sees its pipe close and exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection

from seq2seq.search import SearchOptions
from seq2seq.serve.app import ModelInfo, load_model
from seq2seq.translator import DEFAULT_MAX_SRC_TOKENS, Translation

logger = logging.getLogger("seq2seq.serve")
# How long close() waits for the child to leave after asking, before it kills it.
CLOSE_WAIT_S = 5.0


class ModelProcessDied(RuntimeError):
    """The model's process ended while loading or translating."""


@dataclass(frozen=True)
class ModelSpec:
    """What the child loads: the arguments of :func:`seq2seq.serve.app.load_model`, and
    ``threads``, the torch threads it computes with (None: torch's default)."""

    paths: tuple[str, ...]
    device: str = "cpu"
    dtype: str = "float32"
    weights: tuple[float, ...] | None = None
    max_src_tokens: int = DEFAULT_MAX_SRC_TOKENS
    threads: int | None = None


class ModelProcess:
    """A :class:`~seq2seq.serve.app.ServedModel` whose translator runs in a child process.

    The constructor starts the child and waits until the model is loaded; a checkpoint it
    cannot load raises here as it would in this process (CheckpointError naming the file).
    """

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.starts = 0
        self._closed = False
        self._lock = threading.Lock()  # one call at a time through the pipe
        self._reaping = threading.Lock()  # one thread at a time waits for or kills the child
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self.info: ModelInfo = self._start()

    @property
    def pid(self) -> int | None:
        """The child's process id (None between a death and the next call)."""
        return self._process.pid if self._process is not None else None

    def translate(self, lines: list[str], search: SearchOptions, alignments: bool,
                  max_tokens: int) -> list[Translation]:
        """As :meth:`seq2seq.serve.app.LocalModel.translate`, in the child. An exception the
        translator raised there is raised here; :class:`ModelProcessDied` if the child died."""
        with self._lock:
            if self._closed:
                raise ModelProcessDied("the model process was closed")
            if self._process is not None and not self._process.is_alive():
                logger.warning("the model process died while idle (%s)", self._reap())
            if self._process is None:
                self._start()
            try:
                self._connection.send((lines, search, alignments, max_tokens))
                status, payload = self._connection.recv()
            except (EOFError, OSError) as error:
                status_code = self._reap()
                raise ModelProcessDied(
                    f"the model process died ({status_code}) while translating {len(lines)} "
                    "lines; a new one starts with the next call") from error
        if status == "error":
            raise payload
        return payload

    def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """Ask the child to leave once its current call ends; kill it after ``timeout``
        seconds. Safe to call twice, and from another thread than :meth:`translate`'s (a
        call in progress then fails with :class:`ModelProcessDied`)."""
        self._closed = True
        process, connection = self._process, self._connection
        if process is None:
            return
        try:
            connection.send(None)
        except OSError:
            pass
        with self._reaping:
            process.join(timeout)
            if process.is_alive():
                logger.warning("the model process did not stop within %g s; killing it",
                               timeout)
                process.kill()
                process.join()
        with self._lock:  # free once a translate call in progress has seen the child die
            if self._process is process:
                self._discard()

    # ---- the child's lifetime --------------------------------------------------------------

    def _start(self) -> ModelInfo:
        context = multiprocessing.get_context("spawn")  # fork would copy the server's threads
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve_model, args=(theirs, self.spec),
                                  name="seq2seq-model", daemon=True)
        process.start()
        theirs.close()
        try:
            status, payload = ours.recv()
        except (EOFError, OSError):
            process.join()
            ours.close()
            raise ModelProcessDied(f"the model process died ({_ending(process.exitcode)}) "
                                   "while loading the model") from None
        if status == "error":
            process.join()
            ours.close()
            raise payload
        self._process, self._connection = process, ours
        self.starts += 1
        if self.starts > 1:
            logger.warning("started model process %d (pid %d) after the last one died",
                           self.starts, process.pid)
        return payload

    def _reap(self) -> str:
        """Wait for a child whose pipe broke; describe how it ended."""
        process = self._process
        with self._reaping:  # close() may be stopping it from another thread
            process.join(CLOSE_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join()
        self._discard()
        return _ending(process.exitcode)

    def _discard(self) -> None:
        self._connection.close()
        self._process = self._connection = None


def start_replicas(spec: ModelSpec, count: int) -> list[ModelProcess]:
    """``count`` model processes of ``spec``, loading at once. If one fails to start, the
    others are closed and its error (the first in order) is raised."""
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(ModelProcess, spec) for _ in range(count)]
    started, failures = [], []
    for future in futures:
        try:
            started.append(future.result())
        except Exception as error:  # noqa: BLE001 - raised below, after the others close
            failures.append(error)
    if failures:
        close_all(started)
        raise failures[0]
    return started


def close_all(models: list[ModelProcess], timeout: float = CLOSE_WAIT_S) -> None:
    """:meth:`ModelProcess.close` of every model at once: all within ``timeout`` seconds
    (and the time to kill), not one after another."""
    if models:
        with ThreadPoolExecutor(len(models)) as pool:
            list(pool.map(lambda model: model.close(timeout), models))


def _ending(exitcode: int | None) -> str:
    return f"killed by signal {-exitcode}" if exitcode and exitcode < 0 else f"status {exitcode}"


def _serve_model(connection: Connection, spec: ModelSpec) -> None:
    """The child: load the model, say so, then translate what comes until None or EOF."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    if spec.threads is not None:
        import torch

        torch.set_num_threads(spec.threads)
    try:
        model = load_model(spec.paths, spec.device, dtype=spec.dtype, weights=spec.weights,
                           max_src_tokens=spec.max_src_tokens)
    except Exception as error:  # noqa: BLE001 - raised again in the parent
        try:
            _send_error(connection, error)
        except OSError:
            pass
        return
    try:
        connection.send(("ready", model.info))
    except OSError:  # the server stopped while the model loaded
        return
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        lines, search, alignments, max_tokens = message
        try:
            result = ("ok", model.translate(lines, search, alignments, max_tokens))
        except Exception as error:  # noqa: BLE001 - raised again in the parent
            result = None
            failure = error
        try:
            if result is None:
                _send_error(connection, failure)
            else:
                connection.send(result)
        except OSError:  # the parent is gone
            return


def _send_error(connection: Connection, error: Exception) -> None:
    """Send ``error`` itself where the parent can rebuild it, else a RuntimeError naming it."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - e.g. an exception whose __init__ wants other arguments
        error = RuntimeError(f"{type(error).__name__}: {error}")
    connection.send(("error", error))
