"""Decoding speed (sentences/s) of greedy and beam search, and the BLEU each reaches.

Translates a whole test set with a trained checkpoint, once per beam size per repeat, the
beam sizes interleaved so that machine noise hits them alike; reports the median wall time,
sentences/s, output tokens/s (the output's subwords, re-encoded), each beam's time as a
multiple of greedy's, the decoder rows it computed (sentences × live beams, summed over
steps, counted in one more untimed pass), then the sacreBLEU score (cased, 13a,
detokenized; signature printed) of each beam size's output.

    python scripts/bench_decode.py --checkpoint runs/multi30k_de_en/best.ckpt \\
        --source ../shared/data/multi30k/test_2016_flickr.de.gz \\
        --reference ../shared/data/multi30k/test_2016_flickr.en.gz
    python scripts/bench_decode.py ... --devices cpu cuda --beam-sizes 1 5 --repeats 3
    python scripts/bench_decode.py ... --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from seq2seq import Translator
from seq2seq.checkpoint import CheckpointError
from seq2seq.data import DataError, read_lines
from seq2seq.metrics import corpus_scores
from seq2seq.translator import DTYPES


def timed_translation(translator: Translator, lines: list[str], beam_size: int,
                      args: argparse.Namespace) -> tuple[float, list[str]]:
    """Seconds to translate ``lines`` (device synchronized) and the translations."""
    synchronize(translator.device)
    start = time.perf_counter()
    output = translator.translate(lines, beam_size=beam_size, max_tokens=args.max_tokens,
                                  alpha=args.alpha, exact_stop=args.exact_stop)
    synchronize(translator.device)
    return time.perf_counter() - start, output


def decoder_rows(translator: Translator, lines: list[str], beam_size: int,
                 args: argparse.Namespace) -> int:
    """Rows (sentence × beam) the decoder computes to translate ``lines``, all steps summed."""
    decoder, rows = translator.decoder, 0
    step = decoder.step

    def counting_step(prev_tokens, state):
        nonlocal rows
        rows += prev_tokens.shape[0]
        return step(prev_tokens, state)

    decoder.step = counting_step
    try:
        timed_translation(translator, lines, beam_size, args)
    finally:
        del decoder.step  # the class's method again
    return rows


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_device(args: argparse.Namespace, device: str, sources: list[str],
                 references: list[str] | None) -> list[dict]:
    try:
        translator = Translator.from_checkpoint(args.checkpoint, device=device, dtype=args.dtype)
    except CheckpointError as error:
        sys.exit(f"bench_decode.py: {error}")
    for beam_size in args.beam_sizes:  # warm-up: allocator, kernels, tokenizer caches
        timed_translation(translator, sources[:args.warmup], beam_size, args)
    times: dict[int, list[float]] = {beam: [] for beam in args.beam_sizes}
    outputs: dict[int, list[str]] = {}
    for _ in range(args.repeats):
        for beam_size in args.beam_sizes:
            seconds, outputs[beam_size] = timed_translation(translator, sources, beam_size, args)
            times[beam_size].append(seconds)
    greedy_time = statistics.median(times[args.beam_sizes[0]])
    rows = []
    for beam_size in args.beam_sizes:
        seconds = statistics.median(times[beam_size])
        target_tokens = sum(len(ids) for ids in
                            translator.tokenizers.target.encode_batch(outputs[beam_size]))
        row = {"device": device, "dtype": args.dtype, "beam_size": beam_size,
               "sentences": len(sources),
               "median_s": seconds, "times_s": times[beam_size],
               "sentences_per_s": len(sources) / seconds, "tokens_per_s": target_tokens / seconds,
               "time_vs_first": seconds / greedy_time,
               "decoder_rows": decoder_rows(translator, sources, beam_size, args)}
        if references is not None:
            bleu = corpus_scores(outputs[beam_size], [references], metrics=["bleu"])["bleu"]
            row["bleu"], row["bleu_signature"] = bleu["score"], bleu["signature"]
        rows.append(row)
        if args.save_outputs:
            path = Path(args.save_outputs) / f"{device}.{args.dtype}.beam{beam_size}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(line + "\n" for line in outputs[beam_size]), encoding="utf-8")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--source", required=True, type=Path, help="test source (.gz allowed)")
    parser.add_argument("--reference", type=Path, help="its reference, to report BLEU")
    parser.add_argument("--devices", nargs="+",
                        default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    parser.add_argument("--beam-sizes", nargs="+", type=int, default=[1, 5],
                        help="the first is the baseline of the time ratio (default: 1 5)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=64, help="sentences decoded untimed first")
    parser.add_argument("--max-tokens", type=int, default=4000,
                        help="batch budget: padded source tokens x beam size")
    parser.add_argument("--alpha", type=float, default=1.0, help="length normalisation")
    parser.add_argument("--exact-stop", action="store_true",
                        help="beam search's exact stopping rule (default: stop at K finished)")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32",
                        help="precision of the model (default float32)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads for the CPU")
    parser.add_argument("--save-outputs", help="folder to write each beam size's output to")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.max_tokens < 1 or min(args.beam_sizes) < 1:
        parser.error("--repeats, --max-tokens and --beam-sizes must be positive, --warmup >= 0")
    if args.alpha < 0:
        parser.error(f"--alpha must be >= 0, got {args.alpha}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        sources = list(read_lines(args.source))
        references = list(read_lines(args.reference)) if args.reference else None
    except DataError as error:
        sys.exit(f"bench_decode.py: {error}")
    if references is not None and len(references) != len(sources):
        sys.exit(f"{args.reference} has {len(references)} lines but {args.source} has "
                 f"{len(sources)}")
    rows = [row for device in args.devices
            for row in bench_device(args, device, sources, references)]
    print(f"{args.checkpoint}: {len(sources)} sentences of {args.source}, median of "
          f"{args.repeats}, {args.dtype}, alpha {args.alpha}, "
          f"{'exact' if args.exact_stop else 'K-finished'} stop, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{'device':<7}{'beam':>5}{'median s':>10}{'sent/s':>9}{'tok/s':>9}"
          f"{'x beam ' + str(args.beam_sizes[0]):>10}{'dec rows':>10}{'BLEU':>7}")
    for row in rows:
        bleu = f"{row['bleu']:7.2f}" if "bleu" in row else f"{'-':>7}"
        print(f"{row['device']:<7}{row['beam_size']:>5}{row['median_s']:>10.2f}"
              f"{row['sentences_per_s']:>9.1f}{row['tokens_per_s']:>9.0f}"
              f"{row['time_vs_first']:>10.2f}{row['decoder_rows']:>10}{bleu}")
    if references is not None:
        print(f"BLEU signature: {rows[0]['bleu_signature']}")
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
