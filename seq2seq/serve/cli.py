"""``seq2seq-serve``: translate over HTTP (see :mod:`seq2seq.serve.app` for the API).

    seq2seq-serve --checkpoint runs/demo/best.ckpt                 # http://127.0.0.1:8000/
    seq2seq-serve --checkpoint a.ckpt b.ckpt --port 9000           # an ensemble
    seq2seq-serve --checkpoint runs/demo/best.ckpt --workers 4 --threads 2
    SEQ2SEQ_API_KEY=secret seq2seq-serve --checkpoint best.ckpt --host 0.0.0.0

It binds 127.0.0.1 unless told otherwise, and refuses an address other machines can reach
without an API key (``--api-key`` or the environment's ``SEQ2SEQ_API_KEY``), unless
``--insecure-no-key`` says so. The port is bound before the model is loaded, so a port in
use fails at once. Errors at start are one line on stderr: exit status 2 for bad usage or
a bad checkpoint, 1 when the address cannot be bound. SIGINT or SIGTERM stop it
gracefully: no new connections, the requests in flight are answered, then it exits with
128 + the signal, as the other commands do.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import socket
import sys
from typing import TYPE_CHECKING

from seq2seq.commands import (
    UsageError,
    add_model_arguments,
    check_ensemble_weights,
    check_positive_arguments,
    run_command,
)
from seq2seq.translator import DEFAULT_MAX_SRC_TOKENS, resolve_device

if TYPE_CHECKING:
    import torch

PROG = "seq2seq-serve"
API_KEY_ENV = "SEQ2SEQ_API_KEY"
# Requests in flight get this long to finish after SIGINT/SIGTERM.
GRACEFUL_SHUTDOWN_S = 30
# On a CPU, several single-threaded workers outrun one worker with every thread: a server's
# batches are small and of mixed lengths, and two 1-thread workers on 2 cores served them
# 1.7x as fast as one 2-thread worker (docs/BENCHMARKS.md). Each worker holds a copy
# of the model, hence the cap.
MAX_DEFAULT_WORKERS = 4


def build_parser() -> argparse.ArgumentParser:
    from seq2seq.serve.app import ServeOptions

    defaults = ServeOptions()
    parser = argparse.ArgumentParser(prog=PROG, description="Translate over HTTP: POST "
                                     "/translate, GET /health, GET /info, and a page at /.")
    parser.add_argument("--checkpoint", required=True, nargs="+",
                        help="translation checkpoint; several make an ensemble")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any "
                        "free port, printed at start)")
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_ENV) or None,
                        help="require this key in the X-API-Key header of /translate and "
                             f"/info (default: ${API_KEY_ENV}; prefer the environment, since "
                             "other users can see a command line)")
    parser.add_argument("--insecure-no-key", action="store_true",
                        help="allow a non-loopback --host without an API key")
    add_model_arguments(parser)
    parser.add_argument("--max-src-tokens", type=int, default=DEFAULT_MAX_SRC_TOKENS,
                        help="truncate longer inputs, with a warning on stderr "
                             f"(default {DEFAULT_MAX_SRC_TOKENS})")
    group = parser.add_argument_group("workers")
    group.add_argument("--workers", type=int, help="copies of the model, each in a process "
                       "of its own, translating batches side by side (default: on a CPU, "
                       f"one per CPU up to {MAX_DEFAULT_WORKERS}; on a GPU, 1)")
    group.add_argument("--threads", type=int, help="torch threads of each worker (default: "
                       "on a CPU, the CPUs shared out among the workers; on a GPU, torch's)")
    group = parser.add_argument_group("batching and limits")
    group.add_argument("--batch-wait-ms", type=float, default=defaults.batch_wait_ms,
                       help="gather requests this long into one translator call "
                            f"(default {defaults.batch_wait_ms:g})")
    group.add_argument("--max-lines", type=int, default=defaults.max_lines,
                       help=f"lines per request (default {defaults.max_lines}; 413 beyond)")
    group.add_argument("--max-chars", type=int, default=defaults.max_chars,
                       help=f"characters per line (default {defaults.max_chars}; 413 beyond)")
    group.add_argument("--max-queue-lines", type=int, default=defaults.max_queue_lines,
                       help="lines waiting to be translated, all requests together "
                            f"(default {defaults.max_queue_lines}; 429 beyond)")
    group.add_argument("--max-beam-size", type=int, default=defaults.max_beam_size,
                       help="largest beam_size and nbest a request may ask for "
                            f"(default {defaults.max_beam_size}; 422 beyond)")
    group.add_argument("--max-request-work", type=int, default=defaults.max_request_work,
                       help="characters × beams (or samples) one request may ask for "
                            f"(default {defaults.max_request_work}; 413 beyond)")
    group.add_argument("--max-output-tokens", type=int, default=defaults.max_output_tokens,
                       help="largest output length max_len_a and max_len_b may allow "
                            f"(default {defaults.max_output_tokens}; 422 beyond)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default info)")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    return run_command(PROG, serve, args)


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors, reported by ``parser.error`` (exit status 2), before anything is loaded."""
    check_positive_arguments(parser, args, "workers", "threads", "max_tokens", "max_src_tokens",
                             "max_lines", "max_chars", "max_queue_lines", "max_beam_size",
                             "max_output_tokens", "max_request_work")
    if args.max_queue_lines < args.max_lines:
        parser.error(f"--max-queue-lines ({args.max_queue_lines}) must be at least --max-lines "
                     f"({args.max_lines}), or a request of --max-lines lines never fits")
    if not (math.isfinite(args.batch_wait_ms) and args.batch_wait_ms >= 0):
        parser.error(f"--batch-wait-ms must be finite and >= 0, got {args.batch_wait_ms}")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535, got {args.port}")
    if args.backend != "torch" or args.dtype == "int8":
        parser.error("seq2seq-serve runs the torch backend (--backend torch, float32, bfloat16 "
                     "or float16); for onnxruntime use seq2seq-translate")
    try:
        check_ensemble_weights(args.ensemble_weights, args.checkpoint)
    except UsageError as error:
        parser.error(str(error))
    if args.api_key is not None and not args.api_key.strip():
        parser.error("--api-key is empty; give a key or leave it out")
    if args.api_key is None and not args.insecure_no_key and not is_loopback(args.host):
        parser.error(f"--host {args.host} can be reached from other machines: set an API key "
                     f"(${API_KEY_ENV} or --api-key) or pass --insecure-no-key")


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is this machine's loopback (127.0.0.0/8, ::1)."""
    try:
        infos = socket.getaddrinfo(host or None, None, proto=socket.IPPROTO_TCP,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        return False
    addresses = [info[4][0].split("%")[0] for info in infos]
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; OSError naming the address if it fails."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as error:
        raise OSError(f"cannot listen on {host}:{port}: {_reason(error)}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {_reason(error)}") from None
    return sock


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def worker_layout(device: torch.device, workers: int | None,
                  threads: int | None) -> tuple[int, int | None]:
    """(workers, torch threads per worker) for ``device``, the defaults filled in (see
    ``--workers`` and ``--threads``); None threads: torch's default."""
    if device.type != "cpu":
        return workers or 1, threads
    cpus = available_cpus()
    workers = workers or min(cpus, MAX_DEFAULT_WORKERS)
    return workers, threads or max(1, cpus // workers)


def available_cpus() -> int:
    """The CPUs this process may run on (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from seq2seq.serve.app import ServeOptions, create_app
    from seq2seq.serve.model_process import ModelSpec, close_all, start_replicas

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise UsageError(f"--device {args.device}: {error}") from None
    sock = listen(args.host, args.port)
    with sock:
        weights = tuple(args.ensemble_weights) if args.ensemble_weights else None
        workers, threads = worker_layout(device, args.workers, args.threads)
        cpus = available_cpus()
        if device.type == "cpu" and workers * (threads or 1) > cpus:
            print(f"{PROG}: warning: {workers} workers × {threads} threads on {cpus} CPUs: "
                  "more threads than CPUs slow every worker down, and each worker holds a "
                  "copy of the model in memory", file=sys.stderr, flush=True)
        replicas = start_replicas(ModelSpec(tuple(args.checkpoint), str(device), args.dtype,
                                            weights, args.max_src_tokens, threads), workers)
        model = replicas[0]
        try:
            options = ServeOptions(
                max_lines=args.max_lines, max_chars=args.max_chars,
                max_queue_lines=args.max_queue_lines, max_beam_size=args.max_beam_size,
                max_output_tokens=args.max_output_tokens,
                max_request_work=args.max_request_work, batch_wait_ms=args.batch_wait_ms,
                max_tokens=args.max_tokens)
            app = create_app(replicas, options, api_key=args.api_key)
            config = uvicorn.Config(app, log_level=args.log_level, access_log=args.access_log,
                                    lifespan="on",
                                    timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
            host, port = sock.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            members = len(model.info.checkpoints)
            print(f"{PROG}: translating {model.info.source_language}→"
                  f"{model.info.target_language} ({members} checkpoint"
                  f"{'s' if members > 1 else ''}, {device}, {workers} worker"
                  f"{'s' if workers > 1 else ''} × {threads or 'default'} thread"
                  f"{'s' if threads != 1 else ''}) on http://{shown}:{port}/",
                  file=sys.stderr, flush=True)
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            close_all(replicas)
    return 0


if __name__ == "__main__":
    sys.exit(main())
