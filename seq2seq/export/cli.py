"""``seq2seq-export``: a translation checkpoint as a self-contained model folder.

    seq2seq-export --checkpoint runs/demo/best.ckpt --output models/demo-en-de
    seq2seq-export --checkpoint best.ckpt --output models/m30k --quantize int8 \\
        --test-source test.de --test-reference test.en --data-description "Multi30k task 1"
    seq2seq-export --checkpoint best.ckpt --output models/m30k --push-to-hub org/name

The folder (layout: :mod:`seq2seq.export.folder`) is written under a temporary name beside
``--output`` and appears only when complete. ``--checkpoint`` may be a model folder too
(to add int8 graphs or test scores). Exit status as the other commands: 0 done, 1 bad
input data or a failed upload, 2 bad usage or checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seq2seq.commands import CommandError, UsageError, loading_checkpoint, run_command
from seq2seq.data import read_lines
from seq2seq.export import card, folder, hub
from seq2seq.export.onnx_graphs import DECODER, ENCODER, export_onnx, graph_file, quantize_int8
from seq2seq.metrics import corpus_scores
from seq2seq.search import SearchOptions
from seq2seq.translator import DEFAULT_MAX_TOKENS, Translator

PROG = "seq2seq-export"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Write a translation checkpoint as a self-contained model folder "
                               "(safetensors, ONNX graphs, sentencepiece models, model card).")
    parser.add_argument("--checkpoint", required=True,
                        help="translation checkpoint (or model folder) to export")
    parser.add_argument("--output", required=True, help="the model folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --output if it is a model folder written before")
    parser.add_argument("--quantize", choices=["int8"],
                        help="also write int8 graphs (onnxruntime dynamic quantization of the "
                             "matrix products): encoder.int8.onnx, decoder_step.int8.onnx")
    parser.add_argument("--data-description",
                        help="what the model was trained on, for the model card")
    card_group = parser.add_argument_group("test scores for the model card")
    card_group.add_argument("--test-source", help="test set source text (.gz allowed)")
    card_group.add_argument("--test-reference", help="its reference translation")
    card_group.add_argument("--beam-size", type=int, default=5,
                            help="beam size of the test translation (default 5)")
    card_group.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                            help=f"batch budget of the test translation (default {DEFAULT_MAX_TOKENS})")
    hub_group = parser.add_argument_group("Hugging Face hub")
    hub_group.add_argument("--push-to-hub", metavar="ORG/NAME",
                           help="upload the folder to this model repository (created if missing)")
    hub_group.add_argument("--private", action="store_true", help="create the repository private")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.test_source is None) != (args.test_reference is None):
        parser.error("--test-source and --test-reference go together")
    if args.beam_size < 1 or args.max_tokens < 1:
        parser.error("--beam-size and --max-tokens must be positive")
    return run_command(PROG, export, args)


def export(args: argparse.Namespace) -> int:
    output = Path(args.output)
    problem = folder.output_problem(output, args.overwrite)
    if problem:
        raise UsageError(f"--output {problem}")
    with loading_checkpoint(args.checkpoint):
        checkpoint = folder.load_checkpoint_or_folder(args.checkpoint)
    test_set = read_test_set(args) if args.test_source else None
    dtypes = ["float32"] + ([args.quantize] if args.quantize else [])
    exported = {"training_data": args.data_description, "graph_dtypes": dtypes}
    with folder.staged_folder(output) as staging:
        write_files(checkpoint, staging, args.quantize)
        info = folder.write_config(staging, checkpoint, exported=exported)
        if test_set is not None:
            exported["test_scores"] = test_scores(staging, test_set, dtypes, args)
            info = folder.write_config(staging, checkpoint, exported=exported)
        reference = f"hf://{args.push_to_hub}" if args.push_to_hub else str(output)
        (staging / folder.CARD).write_text(card.model_card(info, reference), encoding="utf-8")
    print(f"{PROG}: wrote {output}", file=sys.stderr)
    if args.push_to_hub:
        try:
            url = hub.push(output, args.push_to_hub, private=args.private)
        except hub.HubError as error:
            raise CommandError(f"{error} (the folder {output} is written)") from None
        print(f"{PROG}: uploaded to {url}", file=sys.stderr)
    return 0


def write_files(checkpoint, staging: Path, quantize: str | None) -> None:
    """Weights, sentencepiece models and graphs (and their int8 versions) into ``staging``."""
    folder.write_weights(checkpoint.model, staging / folder.WEIGHTS)
    folder.write_tokenizers(checkpoint.tokenizers, staging)
    export_onnx(checkpoint.model, staging)
    if quantize:
        for graph in (ENCODER, DECODER):
            quantize_int8(staging / graph_file(graph), staging / graph_file(graph, quantize))


def read_test_set(args: argparse.Namespace) -> tuple[str, list[str], list[str]]:
    """(name, sources, references) of --test-source and --test-reference."""
    sources, references = list(read_lines(args.test_source)), list(read_lines(args.test_reference))
    if len(sources) != len(references) or not sources:
        raise CommandError(f"{args.test_source} has {len(sources)} lines and "
                           f"{args.test_reference} {len(references)}; need the same number, > 0")
    return Path(args.test_source).name, sources, references


def test_scores(staging: Path, test_set, dtypes: list[str], args) -> list[dict]:
    """BLEU of the exported model on the test set: torch float32, and each quantized graph."""
    name, sources, references = test_set
    model_folder = folder.read_model_folder(staging)
    runs = [("torch", "float32", folder.load_torch(model_folder).model)]
    runs += [("onnxruntime", dtype, folder.load_onnx(model_folder, dtype)) for dtype in dtypes[1:]]
    search, scores = SearchOptions(beam_size=args.beam_size), []
    for backend, dtype, model in runs:
        translator = Translator(model, model_folder.tokenizers)
        hypotheses = translator.translate(sources, search, max_tokens=args.max_tokens)
        bleu = corpus_scores(hypotheses, [references], metrics=["bleu"])["bleu"]
        scores.append({"test_set": name, "sentences": len(sources), "backend": backend,
                       "dtype": dtype, "beam_size": search.beam_size, "alpha": search.alpha,
                       "bleu": round(bleu["score"], 2), "signature": bleu["signature"]})
        print(f"{PROG}: test BLEU {bleu['score']:.2f} ({backend} {dtype}, beam {args.beam_size})",
              file=sys.stderr)
    return scores


if __name__ == "__main__":
    sys.exit(main())
