"""A :class:`~seq2seq.model.Seq2Seq` as two ONNX graphs: the encoder, and one decoder step.

    encoder.onnx       src (B, S) int64, src_lengths (B,) int64
                       -> hidden (L, B, H) h'_0, and the source part of the decoder state:
                          gate_bias (B, 3H), readout_bias (B, 2M)            (no attention)
                          memory (S, B, D·H), keys (S, B, A), src_mask (S, B) (attention)
    decoder_step.onnx  prev_tokens (N,) int64, hidden (L, N, H), the source part (N rows)
                       -> log_probs (N, V) float32 (log_softmax in the graph),
                          new_hidden (L, N, H), attention (N, S) (attention models only)

B, S and N are dynamic axes. The encoder's recurrence is ONNX's own ``GRU`` operator
(``linear_before_reset`` 1 is the cuDNN form, 0 the paper's; ``sequence_lens`` masks the
padding), so the graph holds no time loop unrolled to the example's length. The decoder
step is the model's own :meth:`~seq2seq.model.Seq2Seq.decode_step`, traced.

:func:`signatures` is the contract between the export, the folder check and the runtime.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.gru import GRU, gru_step
from seq2seq.model import EncoderState, ModelConfig, Seq2Seq
from seq2seq.vocab import BOS_ID, PAD_ID

OPSET = 17
ENCODER = "encoder"
DECODER = "decoder_step"
GRAPH_DTYPES = ("float32", "int8")


def graph_file(graph: str, dtype: str = "float32") -> str:
    """``encoder.onnx``, ``decoder_step.int8.onnx``, ..."""
    return f"{graph}.onnx" if dtype == "float32" else f"{graph}.{dtype}.onnx"


@dataclass(frozen=True)
class TensorSpec:
    """An input or output: ONNX element type and shape (ints fixed, strings dynamic)."""

    name: str
    dtype: str  # as onnxruntime writes it: "tensor(float)", "tensor(int64)", "tensor(bool)"
    shape: tuple[int | str, ...]


@dataclass(frozen=True)
class GraphSignature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {spec.name: {axis: dim for axis, dim in enumerate(spec.shape) if isinstance(dim, str)}
                for spec in (*self.inputs, *self.outputs)}


FLOAT, INT64, BOOL = "tensor(float)", "tensor(int64)", "tensor(bool)"

# The decoder's inputs that stay fixed per sentence, and the axis of their rows.
SOURCE_ROW_AXIS = {"gate_bias": 0, "readout_bias": 0, "memory": 1, "keys": 1, "src_mask": 1}


def source_specs(config: ModelConfig, rows: str) -> tuple[TensorSpec, ...]:
    """The source part of the decoder state, for ``rows`` rows (B sentences or N rows)."""
    c = config
    if c.attention == "none":
        return (TensorSpec("gate_bias", FLOAT, (rows, 3 * c.hidden_size)),
                TensorSpec("readout_bias", FLOAT, (rows, 2 * c.maxout_size)))
    memory_size = (2 if c.bidirectional_encoder else 1) * c.hidden_size
    return (TensorSpec("memory", FLOAT, ("src_len", rows, memory_size)),
            TensorSpec("keys", FLOAT, ("src_len", rows, c.attention_size or c.hidden_size)),
            TensorSpec("src_mask", BOOL, ("src_len", rows)))


def signatures(config: ModelConfig) -> dict[str, GraphSignature]:
    """The inputs and outputs each graph of a model with ``config`` has."""
    c = config
    hidden = (c.num_layers, "rows", c.hidden_size)
    encoder = GraphSignature(
        inputs=(TensorSpec("src", INT64, ("batch", "src_len")),
                TensorSpec("src_lengths", INT64, ("batch",))),
        outputs=(TensorSpec("hidden", FLOAT, (c.num_layers, "batch", c.hidden_size)),
                 *source_specs(c, "batch")))
    attention = (TensorSpec("attention", FLOAT, ("rows", "src_len")),) if c.attention != "none" else ()
    decoder = GraphSignature(
        inputs=(TensorSpec("prev_tokens", INT64, ("rows",)), TensorSpec("hidden", FLOAT, hidden),
                *source_specs(c, "rows")),
        outputs=(TensorSpec("log_probs", FLOAT, ("rows", c.tgt_vocab_size)),
                 TensorSpec("new_hidden", FLOAT, hidden), *attention))
    return {ENCODER: encoder, DECODER: decoder}


# ---- the encoder's GRU as ONNX's GRU operator ------------------------------------------------


def _onnx_gate_order(tensor: Tensor) -> Tensor:
    """Gate blocks along dim 0 from torch's (r, z, n) to ONNX's (z, r, h)."""
    r, z, n = tensor.chunk(3, dim=0)
    return torch.cat((z, r, n))


def _torch_gate_order(tensor: Tensor) -> Tensor:
    """The inverse of :func:`_onnx_gate_order`."""
    z, r, n = tensor.chunk(3, dim=0)
    return torch.cat((r, z, n))


class _OnnxGRULayer(torch.autograd.Function):
    """One layer, all directions: exported as ``GRU``; computed in torch while tracing.

    x (T, B, I), lengths (B,), weight (D, 3H, I), recurrence (D, 3H, H), bias (D, 6H), all in
    ONNX's gate order -> outputs (T, D, B, H) (zero at padding) and final states (D, B, H).
    """

    @staticmethod
    def forward(ctx, x, lengths, weight, recurrence, bias, reset_after: bool, hidden_size: int):
        steps, batch, _ = x.shape
        real = (torch.arange(steps).unsqueeze(1) < lengths).unsqueeze(2)  # (T, B, 1)
        outputs, finals = [], []
        for direction in range(weight.shape[0]):
            w_hh = _torch_gate_order(recurrence[direction])
            b_ih, b_hh = (_torch_gate_order(part) for part in bias[direction].chunk(2))
            proj = F.linear(x, _torch_gate_order(weight[direction]), b_ih)  # (T, B, 3H)
            h = x.new_zeros(batch, hidden_size)
            states = x.new_zeros(steps, batch, hidden_size)
            for t in range(steps - 1, -1, -1) if direction == 1 else range(steps):
                h = torch.where(real[t], gru_step(proj[t], h, w_hh, b_hh, reset_after), h)
                states[t] = h * real[t]
            outputs.append(states)
            finals.append(h)
        return torch.stack(outputs, 1), torch.stack(finals)

    @staticmethod
    def symbolic(g, x, lengths, weight, recurrence, bias, reset_after, hidden_size):
        sequence_lens = g.op("Cast", lengths, to_i=6)  # int32, as GRU wants
        bidirectional = weight.type().sizes()[0] == 2
        return g.op("GRU", x, weight, recurrence, bias, sequence_lens,
                    hidden_size_i=hidden_size, linear_before_reset_i=int(reset_after),
                    direction_s="bidirectional" if bidirectional else "forward", outputs=2)


class OnnxEncoderGRU(nn.Module):
    """A :class:`~seq2seq.gru.GRU`'s forward (with ``lengths``, no h0) that exports as one
    ONNX ``GRU`` node per layer. Its weights are copies in ONNX's layout."""

    def __init__(self, gru: GRU):
        super().__init__()
        if not gru.bias:
            raise ValueError("exporting a GRU without biases is not supported")
        self.num_layers, self.hidden_size, self.reset_after = (gru.num_layers, gru.hidden_size,
                                                               gru.reset_after)
        for layer in range(gru.num_layers):
            parts = [[p.detach() for p in gru.layer_parameters(layer, direction)]
                     for direction in range(gru.num_directions)]
            self.register_buffer(f"weight_l{layer}", torch.stack(
                [_onnx_gate_order(w_ih) for w_ih, _, _, _ in parts]))  # (D, 3H, I)
            self.register_buffer(f"recurrence_l{layer}", torch.stack(
                [_onnx_gate_order(w_hh) for _, w_hh, _, _ in parts]))  # (D, 3H, H)
            self.register_buffer(f"bias_l{layer}", torch.stack(
                [torch.cat((_onnx_gate_order(b_ih), _onnx_gate_order(b_hh)))
                 for _, _, b_ih, b_hh in parts]))  # (D, 6H)

    def forward(self, input: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """input (T, B, I), lengths (B,) -> output (T, B, D·H), h_n (L·D, B, H), as GRU's."""
        finals = []
        for layer in range(self.num_layers):
            output, h_n = _OnnxGRULayer.apply(
                input, lengths, getattr(self, f"weight_l{layer}"),
                getattr(self, f"recurrence_l{layer}"), getattr(self, f"bias_l{layer}"),
                self.reset_after, self.hidden_size)
            input = output.transpose(1, 2).flatten(2)  # (T, D, B, H) -> (T, B, D·H)
            finals.append(h_n)
        return input, torch.cat(finals)


# ---- the two graphs -----------------------------------------------------------------------------


class EncoderGraph(nn.Module):
    """``Seq2Seq.encode`` + ``initial_hidden`` with the encoder GRU swapped for ONNX's."""

    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model = copy.deepcopy(model)
        self.model.encoder = OnnxEncoderGRU(model.encoder)

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, ...]:
        encoded = self.model.encode(src, src_lengths)
        names = [spec.name for spec in source_specs(self.model.config, "batch")]
        return (self.model.initial_hidden(encoded), *(getattr(encoded, name) for name in names))


class DecoderStepGraph(nn.Module):
    """``Seq2Seq.decode_step`` with log_softmax, its state as flat tensors."""

    def __init__(self, model: Seq2Seq):
        super().__init__()
        self.model = model
        self.source_names = [spec.name for spec in source_specs(model.config, "rows")]

    def forward(self, prev_tokens: Tensor, hidden: Tensor, *source: Tensor) -> tuple[Tensor, ...]:
        encoded = EncoderState(summary=None, **dict(zip(self.source_names, source)))
        logits, hidden, attention = self.model.decode_step(prev_tokens, hidden, encoded)
        log_probs = F.log_softmax(logits.float(), dim=-1)
        return (log_probs, hidden) if attention is None else (log_probs, hidden, attention)


def _example_source(config: ModelConfig) -> tuple[Tensor, Tensor]:
    """src (3, 5) and src_lengths (3,) to trace with: three sentences of different lengths."""
    src_lengths = torch.tensor([5, 3, 1])
    src = torch.randint(0, config.src_vocab_size, (3, 5))
    return src.masked_fill(torch.arange(5) >= src_lengths.unsqueeze(1), PAD_ID), src_lengths


def export_onnx(model: Seq2Seq, folder: str | Path) -> list[Path]:
    """Write ``encoder.onnx`` and ``decoder_step.onnx`` of ``model`` (float32) into ``folder``;
    returns their paths."""
    folder = Path(folder)
    model = copy.deepcopy(model).float().cpu().eval()
    signature = signatures(model.config)
    encoder = EncoderGraph(model).eval()
    src, src_lengths = _example_source(model.config)
    with torch.no_grad():
        encoded = encoder(src, src_lengths)
    prev_tokens = torch.full((3,), BOS_ID, dtype=torch.long)
    paths = [folder / graph_file(ENCODER), folder / graph_file(DECODER)]
    for graph, path, args in ((encoder, paths[0], (src, src_lengths)),
                              (DecoderStepGraph(model).eval(), paths[1], (prev_tokens, *encoded))):
        spec = signature[ENCODER if graph is encoder else DECODER]
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter: deprecated, but it maps our GRU to ONNX's through a
            # symbolic and exports in a second. Silenced: its deprecation notice, and tracer
            # warnings about iterating over the encoder's directions (a fixed 1 or 2).
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, args, str(path), dynamo=False, opset_version=OPSET,
                              input_names=[s.name for s in spec.inputs],
                              output_names=[s.name for s in spec.outputs],
                              dynamic_axes=spec.dynamic_axes())
        _simplify(path)
    return paths


def _simplify(path: Path) -> None:
    """Fold what the trace left to compute at run time: the tracer records ``h.shape[-1]``
    as a Shape node even where the axis is fixed, so the slices of the recurrent weights
    (``weight_hh[:2H]``) would run at every step and escape int8 quantization."""
    import onnx
    import onnxscript.optimizer

    model = _fold_static_dims(onnx.load(str(path)))
    model = onnxscript.optimizer.optimize(model, input_size_limit=1 << 40,
                                          output_size_limit=1 << 40)
    onnx.save(model, str(path))


def _fold_static_dims(model):
    """``Gather(Shape(x), i)`` as a constant wherever shape inference knows axis i of x."""
    import numpy as np
    from onnx import helper, numpy_helper, shape_inference

    model = shape_inference.infer_shapes(model)
    graph = model.graph
    dims = {value.name: value.type.tensor_type.shape.dim
            for value in (*graph.value_info, *graph.input)}
    constants = {node.output[0]: numpy_helper.to_array(node.attribute[0].t) for node in graph.node
                 if node.op_type == "Constant" and node.attribute[0].name == "value"}
    shape_of = {node.output[0]: node.input[0] for node in graph.node
                if node.op_type == "Shape" and not node.attribute}
    for node in graph.node:
        if (node.op_type != "Gather" or node.input[0] not in shape_of
                or node.input[1] not in constants or constants[node.input[1]].ndim != 0):
            continue
        shape = dims.get(shape_of[node.input[0]])
        dim = None if shape is None else shape[int(constants[node.input[1]])]
        if dim is not None and dim.HasField("dim_value"):
            value = numpy_helper.from_array(np.array(dim.dim_value, dtype=np.int64))
            node.CopyFrom(helper.make_node("Constant", [], [node.output[0]], value=value))
    return model


# ---- int8 ---------------------------------------------------------------------------------------


def quantize_int8(source: str | Path, target: str | Path) -> None:
    """Dynamic int8 quantization of the matrix products (weights int8 per output channel,
    activations quantized on the fly; the quantizer rewrites Gemm as MatMul first).

    Products with a single output column (attention's score ``v``) stay float32: quantizing
    their (S·N, A) input costs more than the product saves.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    weights = {init.name: tuple(init.dims) for init in model.graph.initializer}
    vectors = [node.name for node in model.graph.node if node.op_type in ("MatMul", "Gemm")
               and len(weights.get(node.input[1], ())) == 2 and 1 in weights[node.input[1]]]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run shape pre-processing: done by _simplify
    try:
        quantize_dynamic(model, target, op_types_to_quantize=["MatMul"], nodes_to_exclude=vectors,
                         weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
