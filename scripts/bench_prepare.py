"""How long preparing a corpus takes: load, train sentencepiece, tokenize each split.

Builds the training command's data module from a config's ``data:`` section (with any
``--set key=value`` overrides) on an empty cache folder (its own and the ``datasets``
cache) and times each stage of its one-off preparation, the steps ``seq2seq-train`` runs
before training, saving included:

    python scripts/bench_prepare.py --config configs/multi30k_de_en.yaml \\
        --set source=../shared/data/multi30k
    python scripts/bench_prepare.py --config configs/demo.yaml    # includes generating it
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml


def parse_override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set needs key=value, got {text!r}")
    return key, yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        type=parse_override, metavar="KEY=VALUE", help="a data option")
    args = parser.parse_args(argv)
    options = (yaml.safe_load(args.config.read_text()) or {}).get("data") or {}
    options.update(dict(args.overrides))
    with tempfile.TemporaryDirectory() as cache:
        os.environ["HF_DATASETS_CACHE"] = str(Path(cache) / "datasets")  # before datasets loads
        import torch

        from seq2seq.datamodule import TranslationDataModule
        from seq2seq.preparation import SPLITS

        module = TranslationDataModule(**{**options, "cache_dir": cache})
        preparation = module.preparation
        if preparation.streaming:
            sys.exit("bench_prepare.py: streaming corpora are prepared lazily; set streaming=false")
        timings = {}
        start = time.perf_counter()
        if preparation.source == "demo":
            preparation.resolved_source()  # writes the generated corpus as text files
            timings["generate demo corpus"] = time.perf_counter() - start
        mark = time.perf_counter()
        raw = preparation.load_raw()
        timings["load (datasets)"] = time.perf_counter() - mark
        mark = time.perf_counter()
        tokenizers = preparation.train_tokenizers(raw["train"])
        torch.save(tokenizers.to_dict(), Path(cache) / "tokenizers.pt")
        timings["train + save sentencepiece"] = time.perf_counter() - mark
        sizes = {}
        for split in SPLITS:
            mark = time.perf_counter()
            tokenized = preparation.tokenize_split(raw[split], tokenizers, split)
            tokenized.save_to_disk(str(Path(cache) / "prepared" / split))
            timings[f"tokenize + save {split}"] = time.perf_counter() - mark
            sizes[split] = (len(raw[split]), len(tokenized))
        timings["total"] = time.perf_counter() - start
        hparams = dict(module.hparams)
    print(f"{args.config} data: source={hparams['source']}, vocab {hparams['vocab_size']}, "
          f"{'joint' if hparams['joint_vocab'] else 'separate'} {hparams['tokenizer_type']}")
    print("pairs (loaded -> kept): " + ", ".join(f"{split} {a} -> {b}" for split, (a, b) in sizes.items()))
    print("| stage | seconds |\n| --- | --- |")
    for stage, seconds in timings.items():
        print(f"| {stage} | {seconds:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
