"""Forward+backward time of seq2seq.gru.GRU against torch.nn.GRU, side by side in one process.

For every shape, the layers run interleaved (ours-cuDNN-form, ours-paper-form, nn.GRU, then
again) so that machine noise hits them alike; the table shows medians and the ratio to
nn.GRU's median. TF32 is off on CUDA so both sides do full fp32 arithmetic.

    python scripts/bench_gru.py                    # CPU, and CUDA when present
    python scripts/bench_gru.py --devices cpu --repeats 30
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from seq2seq.gru import GRU, gru_step

SHAPES = [(64, 512), (128, 512), (64, 1000), (128, 1000)]  # (batch, hidden)


class AutogradLoopGRU(GRU):
    """The same layer with plain autograd through a per-step loop (no hand-written backward).

    ``compile_step=True`` wraps the step in ``torch.compile`` (the fusion alternative).
    """

    def __init__(self, *args, compile_step=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.step_fn = torch.compile(gru_step, dynamic=False) if compile_step else gru_step

    def forward(self, input, h0=None, lengths=None, gate_bias=None):
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_parameters(0, 0)
        proj = torch.nn.functional.linear(input, weight_ih, bias_ih)
        h = input.new_zeros(input.shape[1], self.hidden_size)
        outputs = []
        for t in range(input.shape[0]):
            h = self.step_fn(proj[t], h, weight_hh, bias_hh, self.reset_after)
            outputs.append(h)
        return torch.stack(outputs), h.unsqueeze(0)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward_backward(layer: nn.Module, x: torch.Tensor, device: torch.device) -> float:
    """Seconds for one forward and backward pass of ``layer`` on ``x`` (T, B, in)."""
    synchronize(device)
    start = time.perf_counter()
    output, h_n = layer(x)
    (output.sum() + h_n.sum()).backward()
    synchronize(device)
    return time.perf_counter() - start


def bench_shape(batch, hidden, args, device):
    torch.manual_seed(0)
    x = torch.randn(args.length, batch, args.input_size, device=device, requires_grad=True)
    layers = {
        "nn.GRU": nn.GRU(args.input_size, hidden).to(device),
        "ours reset_after": GRU(args.input_size, hidden, reset_after=True).to(device),
        "ours paper": GRU(args.input_size, hidden, reset_after=False).to(device),
    }
    if args.variants:
        layers["autograd loop"] = AutogradLoopGRU(args.input_size, hidden).to(device)
        layers["compiled step"] = AutogradLoopGRU(args.input_size, hidden, compile_step=True).to(device)
    times = {name: [] for name in layers}
    for _ in range(args.warmup):
        for layer in layers.values():
            time_forward_backward(layer, x, device)
    for _ in range(args.repeats):
        for name, layer in layers.items():
            layer.zero_grad(set_to_none=True)
            times[name].append(time_forward_backward(layer, x, device))
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--variants", action="store_true",
                        help="also time the reset_after form as a plain autograd loop, eager and "
                             "with a torch.compile'd step (the alternatives to our hand-written backward)")
    args = parser.parse_args(argv)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"T={args.length}, input={args.input_size}, 1 layer, fp32, median of {args.repeats}")
    names = ["ours reset_after", "ours paper"] + (["autograd loop", "compiled step"] if args.variants else [])
    print("| device | batch | hidden | nn.GRU ms | " + " | ".join(f"{n} ms (ratio)" for n in names) + " |")
    print("| --- " * (4 + len(names)) + "|")
    for device_name in devices:
        device = torch.device(device_name)
        for batch, hidden in SHAPES:
            median = bench_shape(batch, hidden, args, device)
            base = median["nn.GRU"]
            cells = [f"{1e3 * median[name]:.1f} ({median[name] / base:.2f}x)"
                     for name in names]
            print(f"| {device_name} | {batch} | {hidden} | {1e3 * base:.1f} | " + " | ".join(cells) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
