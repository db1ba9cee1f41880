"""``seq2seq-plot``: figures of a model and of training runs, as PNG files.

    seq2seq-plot attention --checkpoint best.ckpt --input test.en --output attention/
    seq2seq-plot curves runs/a runs/b --output curves.png
    seq2seq-plot phrases --checkpoint best.ckpt --phrases phrases.txt --output map.png --tsv map.tsv
    seq2seq-plot embeddings --checkpoint best.ckpt --side src --top 300 --output words.png

Exit status and errors as the other commands (:mod:`seq2seq.commands`): 0 done, 1 bad
input data (a missing file, a run without metrics.csv, too few phrases), 2 bad usage or a
bad checkpoint (a model without attention for ``attention``); one line on stderr. Every
output is written atomically and may not be an input, the checkpoint included.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from seq2seq.checkpoint import TranslationCheckpoint, load_translation_checkpoint
from seq2seq.commands import (
    CommandError,
    UsageError,
    check_not_an_input,
    loading_checkpoint,
    output_stream,
    run_command,
)
from seq2seq.commands.reading import input_lines
from seq2seq.plot import save_png
from seq2seq.plot.attention import attention_figure
from seq2seq.plot.curves import curves_figure, read_run, run_names
from seq2seq.plot.projection import (
    DEFAULT_PERPLEXITY,
    METHODS,
    MIN_POINTS,
    embedding_vectors,
    frequent_pieces,
    project,
    projection_figure,
    summary_vectors,
    write_coordinates,
)
from seq2seq.search import SearchOptionError, SearchOptions
from seq2seq.translator import DEFAULT_MAX_TOKENS, Translator, resolve_device

PROG = "seq2seq-plot"
METHOD_NAMES = {"tsne": "t-SNE", "pca": "PCA"}


# ---- attention ---------------------------------------------------------------------------


def plot_attention(args: argparse.Namespace) -> int:
    """One heatmap per non-empty input line: ``OUTPUT/0001.png`` for line 1, and so on."""
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file; give a directory for the plots")
    checkpoint = load_checkpoint(args)
    translator = Translator(checkpoint.model, checkpoint.tokenizers)
    try:
        translations = translator.translate_stream(
            input_lines(args.input), beam_size=args.beam_size, max_tokens=args.max_tokens,
            alignments=True)
    except ValueError as error:  # a model without attention
        raise UsageError(f"{args.checkpoint}: {error}") from None
    written = 0
    for number, translation in enumerate(translations, start=1):
        if not translation.alignments:
            print(f"{PROG} attention: line {number} is empty; no plot", file=sys.stderr)
            continue
        path = output / f"{number:04d}.png"
        check_not_an_input(str(path), [args.input, args.checkpoint])
        save_png(attention_figure(translation.alignments[0]), path)
        written += 1
    print(f"{PROG} attention: {written} plot{'s' * (written != 1)} in {output}",
          file=sys.stderr)
    return 0


# ---- curves ------------------------------------------------------------------------------


def plot_curves(args: argparse.Namespace) -> int:
    """Train loss, validation BLEU and learning rate of each run, overlaid."""
    runs = [read_run(run_dir, name)
            for run_dir, name in zip(args.run_dirs, run_names(args.run_dirs))]
    check_not_an_input(args.output, [str(path) for run in runs for path in run.files])
    save_png(curves_figure(runs), args.output)
    return 0


# ---- phrases and embeddings --------------------------------------------------------------


def plot_phrases(args: argparse.Namespace) -> int:
    """The paper's Figure 5: phrases placed by their summary vectors c."""
    check_outputs(args, [args.phrases, args.checkpoint])
    phrases = [line.strip() for line in input_lines(args.phrases) if line.strip()]
    if len(phrases) < MIN_POINTS:
        raise CommandError(f"{args.phrases}: {len(phrases)} phrase{'s' * (len(phrases) != 1)} "
                           f"(blank lines skipped); a map needs at least {MIN_POINTS}")
    checkpoint = load_checkpoint(args)
    try:
        vectors = summary_vectors(checkpoint.model, checkpoint.tokenizers.source, phrases,
                                  args.max_tokens)  # (N, H)
    except ValueError as error:  # a phrase without pieces
        raise CommandError(f"{args.phrases}: {error}") from None
    title = (f"{METHOD_NAMES[args.method]} of the summary vectors c of {len(phrases)} phrases "
             f"({Path(args.checkpoint).name})")
    write_map(args, phrases, project_or_fail(args, vectors, args.phrases), title)
    return 0


def plot_embeddings(args: argparse.Namespace) -> int:
    """The paper's Figure 4: the most frequent pieces placed by their embeddings."""
    check_outputs(args, [args.corpus, args.checkpoint])
    checkpoint = load_checkpoint(args)
    tokenizers = checkpoint.tokenizers
    tokenizer = tokenizers.source if args.side == "src" else tokenizers.target
    corpus = input_lines(args.corpus) if args.corpus else None
    ids = frequent_pieces(tokenizer, args.top, corpus)
    where = args.corpus or f"the {args.side} vocabulary"
    if len(ids) < MIN_POINTS:
        raise CommandError(f"{where}: {len(ids)} ordinary pieces; a map needs at least "
                           f"{MIN_POINTS}")
    if len(ids) < args.top:
        print(f"{PROG} embeddings: {where} has only {len(ids)} ordinary pieces; plotting "
              "those", file=sys.stderr)
    labels = [tokenizer.id_to_piece(piece_id) for piece_id in ids]
    vectors = embedding_vectors(checkpoint.model, args.side, ids)  # (N, E)
    side = "source" if args.side == "src" else "target"
    title = (f"{METHOD_NAMES[args.method]} of the embeddings of the {len(ids)} most frequent "
             f"{side} pieces ({Path(args.checkpoint).name})")
    write_map(args, labels, project_or_fail(args, vectors, where), title)
    return 0


def project_or_fail(args: argparse.Namespace, vectors, where: str):
    """(N, 2) coordinates of ``vectors``; what the projection refuses names ``where``."""
    try:
        return project(vectors, args.method, perplexity=args.perplexity)
    except ValueError as error:
        raise CommandError(f"{where}: {error}") from None


def write_map(args: argparse.Namespace, labels: list[str], coordinates, title: str) -> None:
    save_png(projection_figure(labels, coordinates, title), args.output)
    if args.tsv:
        with output_stream(args.tsv) as stream:
            write_coordinates(stream, labels, coordinates)


def check_outputs(args: argparse.Namespace, inputs: list[str | None]) -> None:
    if args.tsv is not None and Path(args.tsv).resolve() == Path(args.output).resolve():
        raise UsageError(f"--tsv and --output are the same file, {args.output}")
    for output in (args.output, args.tsv):
        check_not_an_input(output, [path for path in inputs if path is not None])


# ---- shared ------------------------------------------------------------------------------


def load_checkpoint(args: argparse.Namespace) -> TranslationCheckpoint:
    """``--checkpoint`` on ``--device``; a bad device is a usage error."""
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise UsageError(f"--device {args.device}: {error}") from None
    with loading_checkpoint(args.checkpoint):
        return load_translation_checkpoint(args.checkpoint, device)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Figures of a model and of training runs, written as PNG.")
    commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")

    attention = commands.add_parser(
        "attention", help="attention heatmaps of translated sentences",
        description="Translate each line of --input and draw the best hypothesis's attention "
                    "as a heatmap: source pieces along the top, target pieces (ending in </s>) "
                    "down the side. Line N goes to OUTPUT/000N.png; empty lines get none. "
                    "Needs a model with attention (--model.network.attention bahdanau).")
    add_checkpoint_arguments(attention)
    attention.add_argument("--input", required=True, help="source text, one sentence a line "
                           "(- for stdin)")
    attention.add_argument("--output", required=True, metavar="DIR",
                           help="directory for the PNG files (created if needed)")
    attention.add_argument("--beam-size", type=int, default=SearchOptions.beam_size,
                           help=f"beams per sentence; 1 is greedy search "
                                f"(default {SearchOptions.beam_size})")
    attention.set_defaults(command=plot_attention, parser=attention)

    curves = commands.add_parser(
        "curves", help="train loss, validation BLEU and learning rate of runs",
        description="Plot train loss, validation BLEU and learning rate against step, one "
                    "panel each, runs overlaid and named by their directory. Each RUN_DIR is "
                    "a --trainer.default_root_dir of seq2seq-train: its logs/version_N/"
                    "metrics.csv files are read and merged.")
    curves.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories")
    curves.add_argument("--output", required=True, help="PNG file to write")
    curves.set_defaults(command=plot_curves, parser=curves)

    phrases = commands.add_parser(
        "phrases", help="2-D map of phrase summary vectors c (the paper's Figure 5)",
        description="Encode each phrase (one a line; blank lines skipped) and place it by its "
                    "summary vector c = tanh(V h_N), the encoder's final state through V (for "
                    "attention models too), projected to 2-D.")
    add_checkpoint_arguments(phrases)
    phrases.add_argument("--phrases", required=True, help="source-language phrases, one a line")
    phrases.add_argument("--side", choices=["src"], default="src",
                         help="phrases are encoded by the encoder, so source-language only "
                              "(default src)")
    add_map_arguments(phrases)
    phrases.set_defaults(command=plot_phrases, parser=phrases)

    embeddings = commands.add_parser(
        "embeddings", help="2-D map of the most frequent pieces' embeddings (Figure 4)",
        description="Place the --top most frequent subword pieces of one side by their "
                    "embedding vectors, projected to 2-D. Frequency: counted in --corpus, or "
                    "else the sentencepiece model's piece scores (a unigram model's log "
                    "probabilities, a BPE model's merge order). <pad>, <unk>, <s>, </s> and "
                    "byte pieces are left out.")
    add_checkpoint_arguments(embeddings)
    embeddings.add_argument("--side", choices=["src", "tgt"], required=True,
                            help="source or target embeddings")
    embeddings.add_argument("--top", type=int, default=300,
                            help="how many pieces, most frequent first (default 300)")
    embeddings.add_argument("--corpus", help="text of that side's language to count piece "
                            "frequencies in (default: the model's piece scores)")
    add_map_arguments(embeddings)
    embeddings.set_defaults(command=plot_embeddings, parser=embeddings)
    return parser


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="translation checkpoint")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:N, or auto (CUDA if available; default)")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                        help=f"batch budget in padded source tokens (default {DEFAULT_MAX_TOKENS})")


def add_map_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="PNG file to write")
    parser.add_argument("--tsv", help="also write the coordinates: label<TAB>x<TAB>y, one "
                                      "line per point in order")
    parser.add_argument("--method", choices=METHODS, default="tsne",
                        help="tsne: Barnes-Hut t-SNE (default); pca: the first two principal "
                             "components (better for a handful of points)")
    parser.add_argument("--perplexity", type=float, default=DEFAULT_PERPLEXITY,
                        help="t-SNE perplexity, lowered to N - 1 for N points "
                             f"(default {DEFAULT_PERPLEXITY:g})")


def check_arguments(args: argparse.Namespace) -> None:
    """Usage errors found after parsing, through the subcommand's ``parser.error`` (exit 2)."""
    parser = args.parser
    if getattr(args, "max_tokens", 1) < 1:
        parser.error(f"--max-tokens must be positive, got {args.max_tokens}")
    if args.subcommand == "attention":
        try:
            SearchOptions(beam_size=args.beam_size)
        except SearchOptionError as error:
            parser.error(str(error).replace("beam_size", "--beam-size"))
    if args.subcommand == "embeddings" and args.top < MIN_POINTS:
        parser.error(f"--top must be at least {MIN_POINTS}, got {args.top}")
    if not 0 < getattr(args, "perplexity", 1.0) < math.inf:
        parser.error(f"--perplexity must be positive, got {args.perplexity}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_arguments(args)
    return run_command(f"{PROG} {args.subcommand}", args.command, args)


if __name__ == "__main__":
    sys.exit(main())
