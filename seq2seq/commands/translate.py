"""``seq2seq-translate``: translate text, one output line per input line.

    seq2seq-translate --checkpoint best.ckpt < input.de > output.en
    seq2seq-translate --checkpoint best.ckpt --input test.de --output test.hyp.en --beam-size 10
    seq2seq-translate --checkpoint a.ckpt b.ckpt c.ckpt < input.de    # an ensemble of three

Input is read (stdin by default) and translated ``--buffer-size`` lines at a time, so a
stream of any length works; every input line gives exactly one output line, in order, an
empty line for an empty one. Output formats:

- default: the best translation;
- ``--nbest N``: ``text<TAB>score`` for each of the N best, all on the line of their
  input, best first (``text1<TAB>score1<TAB>text2<TAB>score2...``; tabs and line breaks
  inside a text become spaces);
- ``--json``: one object per line, ``{"source", "translation", "score"}``; with
  ``--nbest`` translation and score are lists, best first. An empty input line has
  score null (no translation was made). With ``--alignments`` (attention models) each
  object also has ``source_tokens`` and ``target_tokens`` (subword pieces, the target's
  ending in ``</s>``) and ``alignment``, one row per target piece of the attention weights
  over the source pieces; with ``--nbest`` these three are lists, one per hypothesis.
  A line longer than ``--max-src-tokens`` subword tokens, of which only the first ones
  were translated, has ``truncated_from``: its number of tokens.

``--sample --nbest N`` draws N samples per sentence instead of searching (``--temperature``,
``--top-k``, ``--top-p``; ``--seed`` makes them reproducible), listed best score first.

Scores are length-normalised log probabilities (see ``--alpha``). Invalid UTF-8 stops
the command with an error naming the line, after everything before that line has been
translated and written to stdout.

Stdout gets each line as soon as it is translated; an ``--output`` file is written under
a temporary name beside it and appears, replacing any previous file, only when the whole
input is translated: after an error the previous file is as it was. The output may be
neither the input nor the checkpoint, by any name.
"""

from __future__ import annotations

import argparse
import json
import sys

from seq2seq.commands import (
    CHECKPOINT_HELP,
    Progress,
    UsageError,
    add_model_arguments,
    add_search_arguments,
    check_not_an_input,
    check_search_arguments,
    load_translator,
    output_stream,
    run_command,
    search_options,
    single_line,
)
from seq2seq.commands.reading import input_chunks
from seq2seq.translator import Translation

PROG = "seq2seq-translate"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Translate text, one output line per input line.")
    parser.add_argument("--checkpoint", required=True, nargs="+", help=CHECKPOINT_HELP)
    add_model_arguments(parser)
    parser.add_argument("--input", help="text to translate (default: stdin)")
    parser.add_argument("--output", help="where to write translations (default: stdout)")
    parser.add_argument("--json", action="store_true", help="write one JSON object per line")
    parser.add_argument("--alignments", action="store_true",
                        help="with --json: add each translation's subword pieces and attention "
                             "weights (models with attention only)")
    add_search_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_search_arguments(parser, args)
    if args.alignments and not args.json:
        parser.error("--alignments needs --json (alignments are written as JSON fields)")
    return run_command(PROG, translate, args)


def translate(args: argparse.Namespace) -> int:
    check_not_an_input(args.output, [args.input, *args.checkpoint])
    translator = load_translator(args)
    if args.alignments and not translator.decoder.has_attention:
        raise UsageError("--alignments: this model has no attention (its decoder reads one "
                         "fixed summary of the source), so there are no alignments to write")
    progress = Progress(PROG, enabled=args.input not in (None, "-"), every=args.buffer_size)
    with output_stream(args.output) as output:
        try:
            for translation in translator.translate_chunks(input_chunks(args.input, args.buffer_size),
                                                           search_options(args),
                                                           max_tokens=args.max_tokens,
                                                           alignments=args.alignments):
                output.write(format_translation(translation, args.nbest, args.json) + "\n")
                output.flush()
                progress.step()
        except BrokenPipeError:
            progress.enabled = False  # the reader went away: stop without a word
            raise
        finally:
            progress.finish()
    return 0


def format_translation(translation: Translation, nbest: int, as_json: bool) -> str:
    """One output line (without its line break) for ``translation``."""
    if as_json:
        texts = [text for text, _ in translation.hypotheses]
        scores = [score for _, score in translation.hypotheses]
        record = {"source": translation.source,
                  "translation": texts if nbest > 1 else translation.text,
                  "score": scores if nbest > 1 else translation.score}
        if translation.alignments is not None:
            for field in ("source_tokens", "target_tokens", "alignment"):
                values = [getattr(a, "weights" if field == "alignment" else field)
                          for a in translation.alignments]
                record[field] = values if nbest > 1 else (values[0] if values else None)
        if translation.truncated_from is not None:
            record["truncated_from"] = translation.truncated_from
        return json.dumps(record, ensure_ascii=False)
    if nbest > 1:
        return "\t".join(f"{single_line(text)}\t{score:.4f}"
                         for text, score in translation.hypotheses)
    return single_line(translation.text)


if __name__ == "__main__":
    sys.exit(main())
