"""``seq2seq-evaluate``: corpus BLEU, chrF and TER (sacreBLEU) with their signatures.

    seq2seq-evaluate --hypotheses test.hyp.en --references test.en [test.ref2.en ...]
    seq2seq-evaluate --checkpoint best.ckpt --source test.de --references test.en \\
        --beam-size 5 --output test.hyp.en

Scores detokenized text exactly as ``sacrebleu REF... -i HYP`` does (lines are
right-stripped, as sacrebleu reads them), and prints sacreBLEU's report line per metric,
signature included, or with ``--json`` one JSON object ``{metric: {"score",
"signature", "text"}}``. With ``--checkpoint`` the source is translated first (all
search options of seq2seq-translate apply). Files of different lengths, or all empty,
are an error naming them, found before anything is translated. ``--output`` appears only
once every line is translated (a previous file is kept until then), and it may be none
of the inputs, checkpoint included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from seq2seq.commands import (
    Progress,
    add_model_arguments,
    add_search_arguments,
    check_not_an_input,
    check_parallel_files,
    check_search_arguments,
    load_translator,
    output_stream,
    run_command,
    search_options,
    single_line,
)
from seq2seq.commands.reading import input_lines, read_text_file
from seq2seq.metrics import METRICS, corpus_scores, format_scores

PROG = "seq2seq-evaluate"
BLEU_TOKENIZERS = ("none", "zh", "13a", "intl", "char", "ja-mecab", "ko-mecab", "spm",
                   "flores101", "flores200")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Score translations with sacreBLEU: BLEU, chrF, TER.")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--hypotheses", help="detokenized translations to score")
    what.add_argument("--checkpoint", nargs="+",
                      help="translate --source with this checkpoint (or ensemble) first")
    parser.add_argument("--source", help="text to translate (with --checkpoint)")
    parser.add_argument("--references", nargs="+", required=True,
                        help="one or more reference files, line-aligned with the hypotheses")
    parser.add_argument("--output", help="also write the translations here (with --checkpoint)")
    parser.add_argument("--metrics", nargs="+", choices=METRICS, default=list(METRICS),
                        help="metrics to compute (default: all three)")
    parser.add_argument("--tokenize", choices=BLEU_TOKENIZERS, default="13a",
                        help="BLEU tokenizer (default 13a)")
    parser.add_argument("--lowercase", action="store_true",
                        help="case-insensitive BLEU and chrF (TER is case-insensitive anyway)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    add_model_arguments(parser.add_argument_group("translating (with --checkpoint)"))
    add_search_arguments(parser, nbest=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.checkpoint and not args.source:
        parser.error("--checkpoint needs --source, the text to translate")
    if args.hypotheses and (args.source or args.output):
        parser.error("--source and --output go with --checkpoint, not --hypotheses")
    check_search_arguments(parser, args)
    return run_command(PROG, evaluate, args)


def evaluate(args: argparse.Namespace) -> int:
    check_not_an_input(args.output, [*(args.checkpoint or []), args.source, *args.references])
    references = [read_text_file(path) for path in args.references]
    if args.hypotheses:
        name, lines = args.hypotheses, read_text_file(args.hypotheses)
    else:
        name, lines = args.source, list(input_lines(args.source))
    check_parallel_files([(name, lines), *zip(args.references, references)])
    hypotheses = lines if args.hypotheses else translate(args, lines)
    scores = corpus_scores(hypotheses, references, metrics=args.metrics, tokenize=args.tokenize,
                           lowercase=args.lowercase, hypotheses_name=name,
                           reference_names=args.references)
    print(json.dumps(scores, ensure_ascii=False) if args.json else format_scores(scores),
          flush=True)
    return 0


def translate(args: argparse.Namespace, sources: list[str]) -> list[str]:
    translator = load_translator(args)
    progress = Progress(PROG, enabled=True, every=args.buffer_size)
    hypotheses = []
    with output_stream(args.output) if args.output else contextlib.nullcontext() as output:
        for translation in translator.translate_stream(sources, search_options(args),
                                                       max_tokens=args.max_tokens):
            text = single_line(translation.text)
            hypotheses.append(text.rstrip())  # as it will read back from --output
            if output is not None:
                output.write(text + "\n")
            progress.step()
    progress.finish()
    return hypotheses


if __name__ == "__main__":
    sys.exit(main())
