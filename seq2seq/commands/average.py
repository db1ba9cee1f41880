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

from seq2seq.averaging import average_checkpoints
from seq2seq.checkpoint import read_checkpoint
from seq2seq.commands import check_not_an_input, loading_checkpoint, run_command

PROG = "seq2seq-average"


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
    average_checkpoints(args.checkpoints, read=_read).save(args.output)
    print(f"{PROG}: averaged {len(args.checkpoints)} checkpoints into {args.output}",
          file=sys.stderr)
    return 0


def _read(path: str) -> dict:
    with loading_checkpoint(path):
        return read_checkpoint(path)


if __name__ == "__main__":
    sys.exit(main())
