"""``seq2seq-score``: log p(target | source) of given translations, line by line.

    seq2seq-score --checkpoint best.ckpt --src test.de --tgt test.en > test.logprobs

Writes one line per pair, ``total<TAB>per_token``: the model's log probability of the
target and its EOS given the source (natural log), and that divided by the number of
target tokens (EOS included); with ``--json``, one object per line with ``total``,
``per_token`` and ``num_tokens``. A summary goes to stderr: total log probability, per
token, and perplexity exp(-total / tokens) over the whole file. Pairs are scored by
batched forced decoding; texts are not truncated: a source or target of more than
``--max-line-tokens`` subword tokens is an error naming its file and line, found before
anything is scored (forced decoding of a 1 MB line would run for many minutes). The
scores appear all at once; an ``--output`` file only when every pair is scored, and it
may be none of the inputs, checkpoint included.

Phrase tables (the paper's Table 1)::

    seq2seq-score --checkpoint best.ckpt --phrase-table phrase-table.gz --output rescored.gz

reads a Moses phrase table (``src ||| tgt ||| scores ||| ...``, gzipped if its name ends in
``.gz``) ``--buffer-size`` lines at a time, never whole, and writes every line back with
p(tgt | src) from the model appended to its scores, as a probability (Moses takes the log);
the output is gzipped if its name ends in ``.gz``. Progress goes to stderr; a malformed
line is an error naming its line number, and the output appears only when the whole table
is scored.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from seq2seq.commands import (
    CHECKPOINT_HELP,
    CommandError,
    Progress,
    add_model_arguments,
    check_not_an_input,
    check_parallel_files,
    check_positive_arguments,
    load_translator,
    output_stream,
    run_command,
)
from seq2seq.commands.reading import input_lines
from seq2seq.phrase_table import phrase_fields, with_probability
from seq2seq.translator import DEFAULT_MAX_LINE_TOKENS, chunked

PHRASE_CHUNK = 10000

PROG = "seq2seq-score"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Score translations: log p(target | source) per line.")
    parser.add_argument("--checkpoint", required=True, nargs="+", help=CHECKPOINT_HELP)
    parser.add_argument("--src", help="source sentences")
    parser.add_argument("--tgt", help="target sentences, line-aligned with --src")
    parser.add_argument("--phrase-table", help="instead of --src/--tgt: a Moses phrase table to "
                                               "write back with one more score per line")
    parser.add_argument("--buffer-size", type=int, default=PHRASE_CHUNK,
                        help="phrase-table lines read and scored at a time "
                             f"(default {PHRASE_CHUNK})")
    parser.add_argument("--output", help="where to write the scores (default: stdout)")
    parser.add_argument("--json", action="store_true", help="write one JSON object per line")
    parser.add_argument("--max-line-tokens", type=int, default=DEFAULT_MAX_LINE_TOKENS,
                        help="refuse a source or target of more subword tokens, naming its "
                             f"line (default {DEFAULT_MAX_LINE_TOKENS})")
    add_model_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.phrase_table and (args.src or args.tgt or args.json):
        parser.error("--phrase-table goes without --src, --tgt and --json")
    if not args.phrase_table and not (args.src and args.tgt):
        parser.error("give --src and --tgt, or --phrase-table")
    check_positive_arguments(parser, args, "max_tokens", "max_line_tokens", "buffer_size")
    return run_command(PROG, score_phrase_table if args.phrase_table else score, args)


def score(args: argparse.Namespace) -> int:
    check_not_an_input(args.output, [args.src, args.tgt, *args.checkpoint])
    sources, targets = list(input_lines(args.src)), list(input_lines(args.tgt))
    check_parallel_files([(args.src, sources), (args.tgt, targets)])
    translator = load_translator(args)
    try:
        results = translator.score(sources, targets, max_tokens=args.max_tokens,
                                   max_line_tokens=args.max_line_tokens,
                                   source_name=args.src, target_name=args.tgt)
    except ValueError as error:  # a line too long: the counts were checked above
        raise CommandError(f"{error} (--max-line-tokens)") from None
    with output_stream(args.output) as output:
        for result in results:
            if args.json:
                line = json.dumps({"total": result.total, "per_token": result.per_token,
                                   "num_tokens": result.num_tokens})
            else:
                line = f"{result.total:.4f}\t{result.per_token:.4f}"
            output.write(line + "\n")
    total = sum(result.total for result in results)
    tokens = sum(result.num_tokens for result in results)
    per_token = total / tokens if tokens else 0.0
    print(f"{PROG}: {len(results)} sentences, {tokens} target tokens (EOS included): "
          f"log-prob {total:.4f}, per token {per_token:.4f}, "
          f"perplexity {math.exp(-per_token):.4f}", file=sys.stderr, flush=True)
    return 0


def score_phrase_table(args: argparse.Namespace) -> int:
    check_not_an_input(args.output, [args.phrase_table, *args.checkpoint])
    translator = load_translator(args)
    progress = Progress(PROG, enabled=True, every=args.buffer_size)
    first_line = 1
    with output_stream(args.output, gzipped=str(args.output or "").endswith(".gz")) as output:
        for chunk in chunked(input_lines(args.phrase_table), args.buffer_size):
            rows = [phrase_fields(line, args.phrase_table, first_line + offset)
                    for offset, line in enumerate(chunk)]
            try:
                results = translator.score(
                    [fields[0] for fields in rows], [fields[1] for fields in rows],
                    max_tokens=args.max_tokens, max_line_tokens=args.max_line_tokens,
                    source_name=f"{args.phrase_table} (source phrase)",
                    target_name=f"{args.phrase_table} (target phrase)", first_line=first_line)
            except ValueError as error:
                raise CommandError(f"{error} (--max-line-tokens)") from None
            for fields, result in zip(rows, results):
                output.write(with_probability(fields, result.total) + "\n")
                progress.step()
            first_line += len(chunk)
        if first_line == 1:  # before the output replaces anything
            raise CommandError(f"nothing to score: {args.phrase_table} has no lines")
    progress.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
