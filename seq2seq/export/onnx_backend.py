"""Exported graphs (:mod:`seq2seq.export.onnx_graphs`) as a :class:`~seq2seq.steps.StepDecoder`,
so that our own greedy and beam search run them on onnxruntime (CPU).

The search's state stays torch tensors; they reach onnxruntime as numpy views of the same
memory (``Tensor.numpy()``) and its outputs come back with ``torch.from_numpy``, without
copies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from seq2seq.export.onnx_graphs import SOURCE_ROW_AXIS, GraphSignature
from seq2seq.steps import Step


@dataclass(frozen=True)
class OnnxState:
    """The decoder's state of N rows: the source part (``SOURCE_ROW_AXIS`` names, rows on
    that axis), fixed per sentence, and the hidden state (L, N, H)."""

    source: dict[str, Tensor]
    hidden: Tensor

    def index_select(self, rows: Tensor) -> OnnxState:
        source = {name: tensor.index_select(SOURCE_ROW_AXIS[name], rows)
                  for name, tensor in self.source.items()}
        return OnnxState(source, self.hidden.index_select(1, rows))

    def reorder_hidden(self, rows: Tensor) -> OnnxState:
        return OnnxState(self.source, self.hidden.index_select(1, rows))


def session_options(threads: int | None = None):
    """onnxruntime options for step-by-step decoding on the CPU.

    Threads: as many as torch uses (``torch.get_num_threads()``), so that both backends
    are compared on the same cores. Spinning is off: between two steps the search runs in
    torch, and worker threads spinning for the next step would take its cores.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: no warnings about unused initializers
    return options


def inference_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime InferenceSession of ``path`` on the CPU."""
    import onnxruntime as ort

    return ort.InferenceSession(os.fspath(path), session_options(threads),
                                providers=["CPUExecutionProvider"])


def signature_misfit(session, signature: GraphSignature) -> str | None:
    """How a session's inputs and outputs differ from ``signature``, said; None if they fit.

    Names, order and element types must match; a fixed axis must have its size and a
    dynamic one must be dynamic, except that an output axis the exporter could not infer
    may show as dynamic where a size is expected.
    """
    for kind, found, expected in (("input", session.get_inputs(), signature.inputs),
                                  ("output", session.get_outputs(), signature.outputs)):
        names = [value.name for value in found]
        if names != [spec.name for spec in expected]:
            return f"its {kind}s are {names}, expected {[spec.name for spec in expected]}"
        for value, spec in zip(found, expected):
            if value.type != spec.dtype:
                return f"{kind} {spec.name} is a {value.type}, expected a {spec.dtype}"
            if not _shape_fits(value.shape, spec.shape, kind == "output"):
                return f"{kind} {spec.name} has shape {value.shape}, expected {list(spec.shape)}"
    return None


def _shape_fits(found, expected: tuple, lenient: bool) -> bool:
    if found is None or len(found) != len(expected):
        return False
    for dim, want in zip(found, expected):
        dynamic = not isinstance(dim, int)
        if isinstance(want, str) and not dynamic:
            return False
        if isinstance(want, int) and dim != want and not (lenient and dynamic):
            return False
    return True


def _numpy(tensor: Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor (a copy only for another device or a non-contiguous one)."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy())


class OnnxSteps:
    """Two onnxruntime sessions, the encoder and one decoder step, as a StepDecoder.

    ``encoder``, ``decoder``: InferenceSessions of graphs with the signature of
    :func:`seq2seq.export.onnx_graphs.signatures` (the folder check makes sure).
    Tensors given to it are moved to the CPU; the tensors it returns are on the CPU.
    """

    def __init__(self, encoder, decoder):
        self.encoder, self.decoder = encoder, decoder
        self.source_names = [output.name for output in encoder.get_outputs()][1:]
        self.has_attention = "attention" in [output.name for output in decoder.get_outputs()]

    def start(self, src: Tensor, src_lengths: Tensor) -> OnnxState:
        """src (B, S), src_lengths (B,) -> the state of B rows before BOS."""
        hidden, *source = self.encoder.run(None, {"src": _numpy(src.long()),
                                                  "src_lengths": _numpy(src_lengths.long())})
        source = {name: torch.from_numpy(array) for name, array in zip(self.source_names, source)}
        return OnnxState(source, torch.from_numpy(hidden))

    def step(self, prev_tokens: Tensor, state: OnnxState) -> Step:
        """prev_tokens (N,) -> log_probs (N, V), the new state, attention (N, S) or None."""
        feeds = {"prev_tokens": _numpy(prev_tokens.long()), "hidden": _numpy(state.hidden)}
        feeds.update((name, _numpy(tensor)) for name, tensor in state.source.items())
        log_probs, hidden, *attention = self.decoder.run(None, feeds)
        return Step(torch.from_numpy(log_probs), OnnxState(state.source, torch.from_numpy(hidden)),
                    torch.from_numpy(attention[0]) if attention else None)

    def forced_log_probs(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """tgt_in (B, T) -> (B, T, V), one decoder step at a time."""
        state, steps = self.start(src, src_lengths), []
        for t in range(tgt_in.shape[1]):
            step = self.step(tgt_in[:, t], state)
            steps.append(step.log_probs)
            state = step.state
        return torch.stack(steps, dim=1)
