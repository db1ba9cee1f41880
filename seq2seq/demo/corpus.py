"""The demo corpus's splits and files, and the ``seq2seq-demo-corpus`` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import random
from collections.abc import Sequence
from pathlib import Path

from seq2seq.demo.sampling import sample_pair
from seq2seq.files import atomic_write

DEFAULT_SIZES = {"train": 30000, "validation": 1000, "test": 1000}
MAX_SPLIT_SIZE = 2_000_000  # the corpus is built in memory: about 1 GB at this size
DEFAULT_SEED = 1234
SPLITS = ("train", "validation", "test")


def generate_corpus(sizes: dict[str, int] | None = None,
                    seed: int = DEFAULT_SEED) -> dict[str, list[tuple[str, str]]]:
    """Train, validation and test pairs; missing sizes default to :data:`DEFAULT_SIZES`.

    Test and then validation are drawn first, each English sentence unique across both;
    train is drawn next, skipping any sentence held out (train may repeat itself).
    """
    sizes = _checked_sizes(sizes)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")  # -s and s agree
    rng = random.Random(seed)
    held_out: set[str] = set()
    corpus: dict[str, list[tuple[str, str]]] = {}
    for split in ("test", "validation", "train"):
        corpus[split] = _draw_split(rng, sizes[split], held_out, unique=split != "train")
    return {split: corpus[split] for split in SPLITS}


def _checked_sizes(sizes: dict[str, int] | None) -> dict[str, int]:
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    unknown = sorted(set(sizes) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; the demo corpus has {list(SPLITS)}")
    for split, size in sizes.items():
        if not isinstance(size, int) or not 0 <= size <= MAX_SPLIT_SIZE:
            raise ValueError(f"size of split {split!r} must be a non-negative int of at most "
                             f"{MAX_SPLIT_SIZE:,}, got {size!r}")
    return sizes


def _draw_split(rng: random.Random, size: int, held_out: set[str],
                unique: bool) -> list[tuple[str, str]]:
    """``size`` pairs whose English is not in ``held_out``; unique ones join it."""
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < size:
        attempts += 1
        if attempts > 20 * size + 1000:
            raise RuntimeError(f"could not draw {size} new sentences; ask for fewer")
        english, german = sample_pair(rng)
        if english in held_out:
            continue
        if unique:
            held_out.add(english)
        pairs.append((english, german))
    return pairs


def write_corpus(output_dir: str | Path, sizes: dict[str, int] | None = None,
                 seed: int = DEFAULT_SEED, src_lang: str = "en", tgt_lang: str = "de",
                 overwrite: bool = False) -> dict[str, int]:
    """Write ``{split}.en`` and ``{split}.de`` for each split into ``output_dir``.

    Files are UTF-8, one sentence per line; line N of ``.en`` translates line N of ``.de``.
    ``src_lang`` and ``tgt_lang`` give the direction and must be en and de, in either
    order. Existing files (or links) are only replaced with ``overwrite``. All six files are
    written under temporary names first and renamed at the end, so a failure (a full
    disk, a kill) leaves the previous corpus whole, never one split from each. Returns
    pairs per split.
    """
    if {src_lang, tgt_lang} != {"en", "de"} or src_lang == tgt_lang:
        raise ValueError(f"the demo corpus is English-German; got {src_lang!r} -> {tgt_lang!r}")
    output_dir = Path(output_dir)
    paths = {(split, lang): output_dir / f"{split}.{lang}" for split in SPLITS for lang in ("en", "de")}
    if not overwrite:
        for path in paths.values():
            if os.path.lexists(path):
                raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    corpus = generate_corpus(sizes, seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as files:  # the renames happen as it closes, all or none
        for split, pairs in corpus.items():
            for column, lang in enumerate(("en", "de")):
                stream = files.enter_context(atomic_write(paths[split, lang]))
                stream.write("".join(pair[column] + "\n" for pair in pairs).encode("utf-8"))
    return {split: len(pairs) for split, pairs in corpus.items()}


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seq2seq-demo-corpus",
        description="Write the synthetic English-German demo corpus as {split}.en / {split}.de.")
    parser.add_argument("output_dir", help="directory to write into (created if needed)")
    for split in SPLITS:
        parser.add_argument(f"--{split}", type=_whole_number, default=DEFAULT_SIZES[split],
                            metavar="N", help=f"pairs in {split} (default {DEFAULT_SIZES[split]})")
    parser.add_argument("--seed", type=_whole_number, default=DEFAULT_SEED,
                        help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``seq2seq-demo-corpus`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.output_dir:
        parser.error("the output directory is empty (give . for the current one)")
    sizes = {split: getattr(args, split) for split in SPLITS}
    try:
        counts = write_corpus(args.output_dir, sizes, args.seed, overwrite=args.overwrite)
    except (FileExistsError, ValueError) as error:
        parser.error(str(error))
    except OSError as error:  # a full disk, a read-only folder, a file in the way
        parser.exit(1, f"{parser.prog}: error: {error}\n")
    for split, count in counts.items():
        for lang in ("en", "de"):
            print(f"{Path(args.output_dir) / f'{split}.{lang}'}: {count} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
