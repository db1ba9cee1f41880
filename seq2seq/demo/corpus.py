"""The demo corpus's splits and files, and the ``seq2seq-demo-corpus`` command."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from pathlib import Path

from seq2seq.demo.sampling import sample_pair

DEFAULT_SIZES = {"train": 30000, "validation": 1000, "test": 1000}
DEFAULT_SEED = 1234
SPLITS = ("train", "validation", "test")


def generate_corpus(sizes: dict[str, int] | None = None,
                    seed: int = DEFAULT_SEED) -> dict[str, list[tuple[str, str]]]:
    """Train, validation and test pairs; missing sizes default to :data:`DEFAULT_SIZES`.

    Test and then validation are drawn first, each English sentence unique across both;
    train is drawn next, skipping any sentence held out (train may repeat itself).
    """
    sizes = _checked_sizes(sizes)
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
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"size of split {split!r} must be a non-negative int, got {size!r}")
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
    order. Existing files are only replaced with ``overwrite``. Returns pairs per split.
    """
    if {src_lang, tgt_lang} != {"en", "de"} or src_lang == tgt_lang:
        raise ValueError(f"the demo corpus is English-German; got {src_lang!r} -> {tgt_lang!r}")
    output_dir = Path(output_dir)
    paths = {(split, lang): output_dir / f"{split}.{lang}" for split in SPLITS for lang in ("en", "de")}
    if not overwrite:
        for path in paths.values():
            if path.exists():
                raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    corpus = generate_corpus(sizes, seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    for split, pairs in corpus.items():
        for column, lang in enumerate(("en", "de")):
            lines = "".join(pair[column] + "\n" for pair in pairs)
            paths[split, lang].write_text(lines, encoding="utf-8")
    return {split: len(pairs) for split, pairs in corpus.items()}


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seq2seq-demo-corpus",
        description="Write the synthetic English-German demo corpus as {split}.en / {split}.de.")
    parser.add_argument("output_dir", type=Path, help="directory to write into (created if needed)")
    for split in SPLITS:
        parser.add_argument(f"--{split}", type=_non_negative_int, default=DEFAULT_SIZES[split],
                            metavar="N", help=f"pairs in {split} (default {DEFAULT_SIZES[split]})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``seq2seq-demo-corpus`` command."""
    args = build_parser().parse_args(argv)
    sizes = {split: getattr(args, split) for split in SPLITS}
    try:
        counts = write_corpus(args.output_dir, sizes, args.seed, overwrite=args.overwrite)
    except FileExistsError as error:
        build_parser().error(str(error))
    for split, count in counts.items():
        for lang in ("en", "de"):
            print(f"{args.output_dir / f'{split}.{lang}'}: {count} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
