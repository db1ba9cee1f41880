"""Throughput and latency of ``seq2seq-serve`` under load, against offline translation.

Draws ``--requests`` requests of 1 to ``--max-lines`` sentences from ``--source``, starts
``seq2seq-serve`` on a free port of 127.0.0.1, and sends them from ``--clients``
concurrent clients (each sends its next request when the last is answered). The same
sentences, in the same order, are translated offline with the same search options, before
and after the served run; the served throughput is compared with the mean of the two.
Offline runs as ``seq2seq-translate`` does (one ``Translator.translate`` call over the
whole input, sorted and batched by length), and, with ``--chunks N [N ...]``, in calls of N
sentences in arrival order: what a server that gathers N sentences per call could reach at
best. ``--workers`` and ``--threads`` are passed to the server (its defaults otherwise;
the table names what it ran). Every answer is checked against the offline translation of
its sentences. Prints the command and a Markdown table for docs/BENCHMARKS.md; exits 1 if
a request failed or an answer differed.

    python scripts/bench_serve.py --checkpoint runs/demo/best.ckpt --source demo_data/test.en
    python scripts/bench_serve.py --checkpoint runs/demo/best.ckpt --source demo_data/test.en \\
        --requests 200                                       # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import torch

from seq2seq import Translator
from seq2seq.data import read_lines

STARTED = re.compile(r"\((.*)\) on (http://\S+?)/?$")


@dataclass
class Served:
    """What the clients saw: seconds per request, failures, answers unlike offline's, the
    run's wall time and the translator calls the server made."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    batches: int = 0
    translating_seconds: float = 0.0
    workers: int = 1
    server: str = ""  # as seq2seq-serve describes itself when it starts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, nargs="+",
                        help="checkpoint; several make an ensemble")
    parser.add_argument("--source", required=True, type=Path,
                        help="sentences to draw requests from, one a line (.gz allowed)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--max-lines", type=int, default=5, help="sentences per request: "
                        "1 to this many, uniformly (default 5)")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-tokens", type=int, default=4000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, help="seq2seq-serve --workers (default: its)")
    parser.add_argument("--threads", type=int, help="seq2seq-serve --threads (default: its)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the drawing of requests")
    parser.add_argument("--chunks", type=int, nargs="*", default=[], metavar="N",
                        help="also translate offline in calls of N sentences, in arrival order")
    args = parser.parse_args(argv)
    for name in ("requests", "clients", "max_lines", "beam_size", "max_tokens", "workers",
                 "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if any(size < 1 for size in args.chunks):
        parser.error("--chunks must be positive")
    return args


def draw_requests(sentences: list[str], count: int, max_lines: int,
                  seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(sentences) for _ in range(rng.randint(1, max_lines))]
            for _ in range(count)]


def offline(translator: Translator, lines: list[str], args: argparse.Namespace,
            chunk: int | None) -> tuple[float, list[str]]:
    """Seconds to translate ``lines`` offline, and the translations: in one
    ``Translator.translate`` call (``chunk`` None), as seq2seq-translate does, or in calls
    of ``chunk`` lines in order, as a server that gathered that many per call would."""
    size = chunk or len(lines)
    start = time.perf_counter()
    output = [translation for first in range(0, len(lines), size)
              for translation in translator.translate(lines[first:first + size],
                                                      beam_size=args.beam_size,
                                                      max_tokens=args.max_tokens)]
    return time.perf_counter() - start, output


class Server:
    """``seq2seq-serve`` in a subprocess on a free port; its stderr is kept (last lines)."""

    def __init__(self, args: argparse.Namespace):
        command = [sys.executable, "-m", "seq2seq.serve.cli", "--checkpoint", *args.checkpoint,
                   "--port", "0", "--device", args.device, "--max-tokens", str(args.max_tokens),
                   "--batch-wait-ms", str(args.batch_wait_ms),
                   "--max-lines", str(max(64, args.max_lines)),
                   "--max-queue-lines", str(max(1000, 2 * args.clients * args.max_lines)),
                   "--log-level", "warning"]
        for name in ("workers", "threads"):
            if getattr(args, name) is not None:
                command += [f"--{name}", str(getattr(args, name))]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        self.stderr: deque[str] = deque(maxlen=20)
        self.url = None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))
            if match := STARTED.search(line.strip()):
                self.described, self.url = match[1], match[2]
                break
        if self.url is None:
            self.process.wait()
            raise SystemExit("seq2seq-serve did not start:\n" + "\n".join(self.stderr))
        # Keep reading, so that warnings (truncated lines) never fill the pipe and block it.
        threading.Thread(target=self._drain, daemon=True).start()
        httpx.get(f"{self.url}/health", timeout=300).raise_for_status()  # up and idle

    def _drain(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def serve_requests(url: str, requests: list[list[str]], expected: list[list[str]],
                         args: argparse.Namespace) -> Served:
    """Send ``requests`` from ``args.clients`` concurrent clients; check every answer."""
    served = Served()
    todo = iter(range(len(requests)))
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)

    async def client_loop(client: httpx.AsyncClient) -> None:
        for index in todo:  # one shared iterator: each request is sent once
            body = {"text": requests[index], "beam_size": args.beam_size}
            start = time.perf_counter()
            try:
                answer = await client.post("/translate", json=body)
            except httpx.HTTPError as error:
                served.errors.append(f"request {index}: {type(error).__name__}: {error}")
                continue
            served.latencies.append(time.perf_counter() - start)
            if answer.status_code != 200:
                served.errors.append(f"request {index}: HTTP {answer.status_code} {answer.text}")
                continue
            found = [item["translation"] for item in answer.json()["translations"]]
            if found != expected[index]:
                served.mismatches.append(f"request {index}: {found!r} != {expected[index]!r}")

    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        for lines in requests[:4]:  # warm up, untimed
            await client.post("/translate", json={"text": lines, "beam_size": args.beam_size})
        before = (await client.get("/health")).json()
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(args.clients)))
        served.seconds = time.perf_counter() - start
        after = (await client.get("/health")).json()
    served.batches = after["batches"] - before["batches"]
    served.translating_seconds = after["translating_seconds"] - before["translating_seconds"]
    served.workers = after["workers"]
    return served


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def report(args: argparse.Namespace, sentences: int, offline_seconds: dict[str, list[float]],
           served: Served) -> None:
    served_rate = sentences / served.seconds
    command = " ".join(shlex.quote(part) for part in ["python", "scripts/bench_serve.py",
                                                      *sys.argv[1:]])
    print(f"\n    {command}\n")
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads, device {args.device}, beam {args.beam_size}, "
          f"batch wait {args.batch_wait_ms:g} ms, {time.strftime('%Y-%m-%d')}; the server: "
          f"{served.server}:\n")
    print("| translation | sentences | seconds | sentences/s | served / this |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds in offline_seconds.items():
        rate = sentences / (sum(seconds) / len(seconds))
        runs = " / ".join(f"{each:.1f}" for each in seconds)
        print(f"| offline `Translator.translate`, {name} (before / after) | {sentences:,} | "
              f"{runs} | {rate:.1f} | **{100 * served_rate / rate:.0f}%** |")
    print(f"| served, {args.clients} clients, {args.requests:,} requests of 1-{args.max_lines} "
          f"sentences | {sentences:,} | {served.seconds:.1f} | {served_rate:.1f} | |")
    if served.latencies:
        print(f"\nLatency per request: p50 {1000 * percentile(served.latencies, 0.5):.0f} ms, "
              f"p99 {1000 * percentile(served.latencies, 0.99):.0f} ms. "
              f"{served.batches:,} translator calls ({sentences / max(1, served.batches):.1f} "
              f"sentences each on average); the {served.workers} worker"
              f"{'s were' if served.workers > 1 else ' was'} busy "
              f"{served.translating_seconds:.1f} s in all of the {served.seconds:.1f} s. "
              f"{len(served.errors)} failed requests; {len(served.mismatches)} answers differed "
              "from the offline translation.")
    for problem in (served.errors + served.mismatches)[:5]:
        print(f"  {problem}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sentences = [line.strip() for line in read_lines(args.source) if line.strip()]
    if not sentences:
        raise SystemExit(f"{args.source} has no sentences")
    requests = draw_requests(sentences, args.requests, args.max_lines, args.seed)
    lines = [line for request in requests for line in request]
    print(f"{len(requests):,} requests, {len(lines):,} sentences; loading the model",
          file=sys.stderr)
    translator = Translator.from_checkpoint(args.checkpoint, args.device)
    translator.translate(lines[:16], beam_size=args.beam_size)  # warm up, untimed
    server = Server(args)
    contexts = {"whole input, as `seq2seq-translate`": None,
                **{f"in calls of {size} sentences": size for size in args.chunks}}
    seconds: dict[str, list[float]] = {name: [] for name in contexts}
    try:
        for name, chunk in contexts.items():
            took, output = offline(translator, lines, args, chunk)
            seconds[name].append(took)
            if chunk is None:
                translations = output
            print(f"offline, {name}: {took:.1f} s", file=sys.stderr)
        expected, start = [], 0
        for request in requests:
            expected.append(translations[start:start + len(request)])
            start += len(request)
        served = asyncio.run(serve_requests(server.url, requests, expected, args))
        served.server = server.described
        print(f"served: {served.seconds:.1f} s", file=sys.stderr)
        for name, chunk in contexts.items():
            took, _ = offline(translator, lines, args, chunk)
            seconds[name].append(took)
            print(f"offline, {name}: {took:.1f} s", file=sys.stderr)
    finally:
        server.stop()
    report(args, len(lines), seconds, served)
    return 1 if served.errors or served.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
