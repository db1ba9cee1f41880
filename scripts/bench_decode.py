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

Backends side by side (``--backend torch onnxruntime``, with ``--quantize int8`` the int8
graphs too): the torch model on each device, and the exported graphs on onnxruntime (CPU),
all in the same repeats, interleaved; ``vs torch`` is each row's sentences/s over the torch
CPU row's of its beam size. ``--checkpoint`` is a checkpoint file (exported to a temporary
folder first, with the int8 graphs if asked) or a model folder (seq2seq-export).

    python scripts/bench_decode.py --checkpoint runs/multi30k_de_en_attention/best.ckpt \\
        --source ../shared/data/multi30k/test_2016_flickr.de.gz \\
        --reference ../shared/data/multi30k/test_2016_flickr.en.gz \\
        --backend torch onnxruntime --quantize int8 --devices cpu --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from seq2seq import Translator
from seq2seq.checkpoint import CheckpointError
from seq2seq.data import DataError, read_lines
from seq2seq.metrics import corpus_scores
from seq2seq.translator import DTYPES


@dataclass
class Variant:
    """One way to run the model: a row group of the table."""

    backend: str
    device: str
    dtype: str
    translator: Translator

    @property
    def name(self) -> str:
        return f"{self.backend}.{self.device}.{self.dtype}"


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


def model_folder(args: argparse.Namespace, scratch: Path) -> Path:
    """The model folder to run on onnxruntime: --checkpoint itself, or its export."""
    from seq2seq.export import folder
    from seq2seq.export.onnx_graphs import DECODER, ENCODER, export_onnx, graph_file, quantize_int8

    if folder.is_folder_reference(str(args.checkpoint)):
        return folder.resolve_folder(str(args.checkpoint))
    checkpoint = folder.load_checkpoint_or_folder(str(args.checkpoint))
    start = time.perf_counter()
    folder.write_weights(checkpoint.model, scratch / folder.WEIGHTS)
    folder.write_tokenizers(checkpoint.tokenizers, scratch)
    export_onnx(checkpoint.model, scratch)
    if args.quantize:
        for graph in (ENCODER, DECODER):
            quantize_int8(scratch / graph_file(graph), scratch / graph_file(graph, args.quantize))
    folder.write_config(scratch, checkpoint, exported={})
    print(f"exported {args.checkpoint} to {scratch} in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    return scratch


def load_variants(args: argparse.Namespace, scratch: Path) -> list[Variant]:
    variants = []
    if "torch" in args.backend:
        for device in args.devices:
            loader = (Translator.from_pretrained if Path(args.checkpoint).is_dir()
                      or str(args.checkpoint).startswith("hf://") else Translator.from_checkpoint)
            variants.append(Variant("torch", device, args.dtype,
                                    loader(str(args.checkpoint), device=device, dtype=args.dtype)))
    if "onnxruntime" in args.backend:
        folder = model_folder(args, scratch)
        for dtype in ["float32"] + ([args.quantize] if args.quantize else []):
            variants.append(Variant("onnxruntime", "cpu", dtype, Translator.from_pretrained(
                folder, backend="onnxruntime", dtype=dtype)))
    return variants


def bench(args: argparse.Namespace, variants: list[Variant], sources: list[str],
          references: list[str] | None) -> list[dict]:
    for variant in variants:  # warm-up: allocator, kernels, tokenizer caches
        for beam_size in args.beam_sizes:
            timed_translation(variant.translator, sources[:args.warmup], beam_size, args)
    times = {(v.name, beam): [] for v in variants for beam in args.beam_sizes}
    outputs: dict[tuple[str, int], list[str]] = {}
    for _ in range(args.repeats):
        for variant in variants:
            for beam_size in args.beam_sizes:
                seconds, outputs[variant.name, beam_size] = timed_translation(
                    variant.translator, sources, beam_size, args)
                times[variant.name, beam_size].append(seconds)
    rows = []
    for variant in variants:
        first_time = statistics.median(times[variant.name, args.beam_sizes[0]])
        for beam_size in args.beam_sizes:
            rows.append(result_row(args, variant, beam_size, times[variant.name, beam_size],
                                   outputs[variant.name, beam_size], first_time, sources,
                                   references))
    baseline = {row["beam_size"]: row["sentences_per_s"] for row in rows
                if row["backend"] == "torch" and row["device"] == "cpu"}
    for row in rows:
        if row["beam_size"] in baseline:
            row["vs_torch_cpu"] = row["sentences_per_s"] / baseline[row["beam_size"]]
    return rows


def result_row(args, variant: Variant, beam_size: int, times: list[float], output: list[str],
               first_time: float, sources: list[str], references: list[str] | None) -> dict:
    translator, seconds = variant.translator, statistics.median(times)
    target_tokens = sum(len(ids) for ids in translator.tokenizers.target.encode_batch(output))
    row = {"backend": variant.backend, "device": variant.device, "dtype": variant.dtype,
           "beam_size": beam_size, "sentences": len(sources), "median_s": seconds,
           "times_s": times, "sentences_per_s": len(sources) / seconds,
           "tokens_per_s": target_tokens / seconds, "time_vs_first": seconds / first_time,
           "decoder_rows": decoder_rows(translator, sources, beam_size, args)}
    if references is not None:
        bleu = corpus_scores(output, [references], metrics=["bleu"])["bleu"]
        row["bleu"], row["bleu_signature"] = bleu["score"], bleu["signature"]
    if args.save_outputs:
        path = Path(args.save_outputs) / f"{variant.name}.beam{beam_size}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in output), encoding="utf-8")
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True,
                        help="checkpoint file, or model folder (seq2seq-export; hf://org/name)")
    parser.add_argument("--source", required=True, type=Path, help="test source (.gz allowed)")
    parser.add_argument("--reference", type=Path, help="its reference, to report BLEU")
    parser.add_argument("--backend", nargs="+", choices=["torch", "onnxruntime"],
                        default=["torch"], help="run each, side by side (default: torch)")
    parser.add_argument("--quantize", choices=["int8"],
                        help="onnxruntime: also run the int8 graphs")
    parser.add_argument("--devices", nargs="+",
                        default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"],
                        help="devices of the torch backend (onnxruntime runs on the CPU)")
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
                        help="precision of the torch model (default float32)")
    parser.add_argument("--threads", type=int,
                        help="torch.set_num_threads for the CPU (onnxruntime uses as many)")
    parser.add_argument("--save-outputs", help="folder to write each row's output to")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.max_tokens < 1 or min(args.beam_sizes) < 1:
        parser.error("--repeats, --max-tokens and --beam-sizes must be positive, --warmup >= 0")
    if args.alpha < 0:
        parser.error(f"--alpha must be >= 0, got {args.alpha}")
    if args.quantize and "onnxruntime" not in args.backend:
        parser.error("--quantize int8 needs --backend onnxruntime")
    return args


def print_table(args: argparse.Namespace, rows: list[dict], sources: list[str]) -> None:
    print(f"{args.checkpoint}: {len(sources)} sentences of {args.source}, median of "
          f"{args.repeats}, alpha {args.alpha}, "
          f"{'exact' if args.exact_stop else 'K-finished'} stop, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{'backend':<12}{'device':<7}{'dtype':<9}{'beam':>5}{'median s':>10}{'sent/s':>9}"
          f"{'tok/s':>9}{'x beam ' + str(args.beam_sizes[0]):>10}{'vs torch':>9}"
          f"{'dec rows':>10}{'BLEU':>7}")
    for row in rows:
        bleu = f"{row['bleu']:7.2f}" if "bleu" in row else f"{'-':>7}"
        versus = f"{row['vs_torch_cpu']:9.2f}" if "vs_torch_cpu" in row else f"{'-':>9}"
        print(f"{row['backend']:<12}{row['device']:<7}{row['dtype']:<9}{row['beam_size']:>5}"
              f"{row['median_s']:>10.2f}{row['sentences_per_s']:>9.1f}{row['tokens_per_s']:>9.0f}"
              f"{row['time_vs_first']:>10.2f}{versus}{row['decoder_rows']:>10}{bleu}")
    if "bleu" in rows[0]:
        print(f"BLEU signature: {rows[0]['bleu_signature']}")


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
    with tempfile.TemporaryDirectory(prefix="bench_decode.") as scratch:
        try:
            variants = load_variants(args, Path(scratch))
        except CheckpointError as error:
            sys.exit(f"bench_decode.py: {error}")
        rows = bench(args, variants, sources, references)
    print_table(args, rows, sources)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
