"""``seq2seq-average``: average the weights of checkpoints into one translation checkpoint.

    seq2seq-average --output averaged.ckpt runs/demo/checkpoints/epoch*.ckpt

The checkpoints must come from one model: the same model options, tokenizers and
language pair (the first that differs is named). Floating-point weights are averaged
(in float64, stored in their own dtype); other tensors are taken from the first. The
output holds weights, model options and tokenizers only, and is never one of the inputs.
With a single input it is that checkpoint's model, without the training state.
Checkpoints with NaN or infinite weights are refused. The output is written atomically:
after a failure (a full disk) a previous file there is as it was, and nothing is left.
"""

from __future__ import annotations

import argparse
import sys

from seq2seq.checkpoint import (
    CHECKPOINT_KEY,
    CheckedParts,
    CheckpointError,
    checked_parts,
    prefixed_state_dict,
    read_checkpoint,
    save_checkpoint,
    translation_payload,
)
from seq2seq.commands import check_not_an_input, loading_checkpoint, run_command
from seq2seq.model import Seq2Seq

PROG = "seq2seq-average"
MUST_MATCH = {"model_config": "model options", "tokenizers": "tokenizers",
              "src_lang": "source language", "tgt_lang": "target language"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Average the model weights of checkpoints of one model.")
    parser.add_argument("--output", required=True, help="the averaged checkpoint to write")
    parser.add_argument("checkpoints", nargs="+", help="checkpoints to average")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(PROG, average, args)


def average(args: argparse.Namespace) -> int:
    check_not_an_input(args.output, args.checkpoints)
    first, parts = _read(args.checkpoints[0])
    payload = first[CHECKPOINT_KEY]
    weights = parts.weights
    sums = {name: tensor.double() if tensor.is_floating_point() else tensor
            for name, tensor in weights.items()}
    for path in args.checkpoints[1:]:
        checkpoint, other = _read(path)
        _check_same_model(args.checkpoints[0], payload, path, checkpoint[CHECKPOINT_KEY])
        for name, tensor in other.weights.items():
            if tensor.is_floating_point():
                sums[name] += tensor.double()
    count = len(args.checkpoints)
    averaged = {name: (total / count).to(weights[name].dtype) if total.is_floating_point()
                else total for name, total in sums.items()}
    model = Seq2Seq(parts.config)
    model.load_state_dict(averaged)
    save_checkpoint(args.output, prefixed_state_dict(model),
                    translation_payload(model, parts.tokenizers, payload["src_lang"],
                                        payload["tgt_lang"]))
    print(f"{PROG}: averaged {count} checkpoints into {args.output}", file=sys.stderr)
    return 0


def _read(path: str) -> tuple[dict, CheckedParts]:
    """The checkpoint and its checked parts (same options and weights of one model are then
    compared by :func:`_check_same_model`)."""
    with loading_checkpoint(path):
        checkpoint = read_checkpoint(path)
    return checkpoint, checked_parts(path, checkpoint)


def _check_same_model(first_path: str, first: dict, path: str, payload: dict) -> None:
    for key, what in MUST_MATCH.items():
        if payload.get(key) != first.get(key):
            raise CheckpointError(f"{path} has other {what} than {first_path}; only "
                                  "checkpoints of one model can be averaged")


if __name__ == "__main__":
    sys.exit(main())
