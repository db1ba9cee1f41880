"""Our own GRU: the paper's form and the cuDNN (``torch.nn.GRU``) form.

Gates, for one step with input x and previous state h (gate order r, z, n as in ``nn.GRU``)::

    r = σ(W_ir x + b_ir + U_r h + b_hr + g_r)
    z = σ(W_iz x + b_iz + U_z h + b_hz + g_z)
    reset_after=True  (cuDNN):  n = tanh(W_in x + b_in + r ⊙ (U_n h + b_hn + g_n))
    reset_after=False (paper):  n = tanh(W_in x + b_in + U_n (r ⊙ h) + b_hn + r ⊙ g_n)
    h' = (1 − z) ⊙ n + z ⊙ h

``g = [g_r | g_z | g_n]`` is an optional per-sequence gate bias (B, 3H), constant over
time: the decoder of Cho et al. (2014, Appendix A) adds ``C_r c``, ``C_z c`` and ``C c``
there, and its candidate reads ``r ⊙ (U h + C c)``, so g_n is gated by r in both forms.

Speed: the input projections of all time steps are one matrix product before the time
loop. The loop itself is a hand-written autograd function (:class:`_GRURecurrence`):
forward keeps only the gate activations it needs, and backward runs one recurrent matrix
product per step while the weight gradients of all steps are single matrix products after
its loop. No step reads a tensor's value on the host, and padded steps are masked rather
than skipped, so every step has the same shapes (the road to CUDA-graph capture).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GRU", "GRUCell", "gru_step"]


def gru_step(
    input_proj: Tensor,
    h: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    reset_after: bool,
    gate_bias_n: Tensor | None = None,
) -> Tensor:
    """One GRU step from a precomputed input projection, with plain autograd ops.

    Args:
        input_proj: (B, 3H) ``W_ih x + b_ih`` (plus the gate bias's r and z parts).
        h: (B, H) previous state.
        weight_hh: (3H, H); bias_hh: (3H,) or None.
        gate_bias_n: (B, H) candidate part of the gate bias, gated by r, or None.

    Returns:
        (B, H) the next state.
    """
    hidden = h.shape[-1]
    i_r, i_z, i_n = input_proj.split(hidden, dim=-1)
    b_rz = None if bias_hh is None else bias_hh[: 2 * hidden]
    b_n = None if bias_hh is None else bias_hh[2 * hidden :]
    w_rz, w_n = weight_hh[: 2 * hidden], weight_hh[2 * hidden :]
    rz = F.linear(h, w_rz, b_rz)
    r = torch.sigmoid(i_r + rz[..., :hidden])
    z = torch.sigmoid(i_z + rz[..., hidden:])
    if reset_after:
        h_n = F.linear(h, w_n, b_n)
        if gate_bias_n is not None:
            h_n = h_n + gate_bias_n
        n = torch.tanh(i_n + r * h_n)
    else:
        pre_n = i_n + F.linear(r * h, w_n, b_n)
        if gate_bias_n is not None:
            pre_n = pre_n + r * gate_bias_n
        n = torch.tanh(pre_n)
    return n + z * (h - n)


class _GRURecurrence(torch.autograd.Function):
    """The time loop of one GRU direction, with a hand-written backward (BPTT).

    Inputs:
        input_proj: (T, B, 3H) ``W_ih x_t + b_ih`` for every step (gate bias r, z folded in).
        h0: (B, H).  weight_hh: (3H, H).  bias_hh: (3H,) or None.
        gate_bias_n: (B, H) or None.
        mask: (T, B, 1) 1.0 at real steps, 0.0 at padding, or None (no padding).
        reset_after: bool.  reverse: bool (run from t = T-1 down to 0).

    Output:
        states: (T, B, H); ``states[t]`` is the state after step t. At padded steps the
        state is carried over unchanged.
    """

    @staticmethod
    # Under autocast (bf16-mixed training) the loop runs in fp32, on either device.
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, input_proj, h0, weight_hh, bias_hh, gate_bias_n, mask, reset_after, reverse):
        steps, batch, three_h = input_proj.shape
        hidden = three_h // 3
        w_rz_t = weight_hh[: 2 * hidden].t()
        w_n_t = weight_hh[2 * hidden :].t()
        if bias_hh is None:
            bias_hh = input_proj.new_zeros(three_h)
        b_rz, b_n = bias_hh[: 2 * hidden], bias_hh[2 * hidden :]
        if reset_after and gate_bias_n is not None:
            b_n = b_n + gate_bias_n  # (B, H): folded into the recurrent product's bias

        states = input_proj.new_empty(steps, batch, hidden)
        gates_rz = input_proj.new_empty(steps, batch, 2 * hidden)
        cand = input_proj.new_empty(steps, batch, hidden)
        # reset_after: the recurrent candidate term U_n h + b_n; paper: the reset state r ⊙ h.
        recur_n = input_proj.new_empty(steps, batch, hidden)

        h = h0
        time = range(steps - 1, -1, -1) if reverse else range(steps)
        for t in time:
            i_t = input_proj[t]
            rz = gates_rz[t]
            torch.addmm(b_rz, h, w_rz_t, out=rz)
            rz.add_(i_t[:, : 2 * hidden]).sigmoid_()
            r = rz[:, :hidden]
            n = cand[t]
            if reset_after:
                torch.addmm(b_n, h, w_n_t, out=recur_n[t])
                torch.addcmul(i_t[:, 2 * hidden :], r, recur_n[t], out=n)
            else:
                torch.mul(r, h, out=recur_n[t])
                torch.addmm(b_n, recur_n[t], w_n_t, out=n)
                n.add_(i_t[:, 2 * hidden :])
                if gate_bias_n is not None:
                    n.addcmul_(r, gate_bias_n)
            n.tanh_()
            new_h = torch.lerp(n, h, rz[:, hidden:])
            if mask is not None:
                new_h = torch.lerp(h, new_h, mask[t])
            states[t] = new_h
            h = states[t]

        ctx.reset_after = reset_after
        ctx.reverse = reverse
        ctx.has_bias = ctx.needs_input_grad[3]
        ctx.save_for_backward(h0, weight_hh, gate_bias_n, mask, states, gates_rz, cand, recur_n)
        return states

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_states):
        h0, weight_hh, gate_bias_n, mask, states, gates_rz, cand, recur_n = ctx.saved_tensors
        reset_after, reverse = ctx.reset_after, ctx.reverse
        steps, batch, hidden = states.shape
        w_rz, w_n = weight_hh[: 2 * hidden], weight_hh[2 * hidden :]

        grad_proj = grad_states.new_empty(steps, batch, 3 * hidden)  # dL/d(pre-activations)
        # paper form: gradient w.r.t. the reset state r ⊙ h, for dW_hn after the loop.
        grad_reset_state = None if reset_after else grad_states.new_empty(steps, batch, hidden)
        grad_h = torch.zeros_like(h0)
        grad_gate_bias_n = None if gate_bias_n is None else torch.zeros_like(gate_bias_n)

        time = range(steps) if reverse else range(steps - 1, -1, -1)
        for t in time:
            t_prev = t + 1 if reverse else t - 1
            h_prev = h0 if t_prev in (-1, steps) else states[t_prev]
            grad_h = grad_h + grad_states[t]
            if mask is not None:
                grad_carry = grad_h * (1.0 - mask[t])
                grad_h = grad_h * mask[t]
            rz = gates_rz[t]
            r, z = rz[:, :hidden], rz[:, hidden:]
            n = cand[t]
            grad_pre = grad_proj[t]
            g_r, g_z, g_n = grad_pre[:, :hidden], grad_pre[:, hidden : 2 * hidden], grad_pre[:, 2 * hidden :]

            torch.mul(grad_h, (h_prev - n) * z * (1.0 - z), out=g_z)
            torch.mul(grad_h * (1.0 - z), 1.0 - n * n, out=g_n)
            grad_h_prev = grad_h * z
            if reset_after:
                torch.mul(g_n * recur_n[t], r * (1.0 - r), out=g_r)
                grad_recur = torch.cat((g_r, g_z, g_n * r), dim=1)  # d(U h + b_h)
                grad_h_prev = grad_h_prev.addmm_(grad_recur, weight_hh)
                if grad_gate_bias_n is not None:
                    grad_gate_bias_n += g_n * r
            else:
                grad_rh = grad_reset_state[t]
                torch.mm(g_n, w_n, out=grad_rh)
                grad_r = grad_rh * h_prev
                if gate_bias_n is not None:
                    grad_r = grad_r.addcmul_(g_n, gate_bias_n)
                    grad_gate_bias_n += g_n * r
                torch.mul(grad_r, r * (1.0 - r), out=g_r)
                grad_h_prev = grad_h_prev.addcmul_(grad_rh, r)
                grad_h_prev = grad_h_prev.addmm_(grad_pre[:, : 2 * hidden], w_rz)
            if mask is not None:
                grad_h_prev = grad_h_prev + grad_carry
            grad_h = grad_h_prev

        grad_weight_hh = grad_bias_hh = None
        if ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:
            prev_states = _shift_states(states, h0, reverse).reshape(steps * batch, hidden)
            flat_proj = grad_proj.reshape(steps * batch, 3 * hidden)
            if reset_after:
                grad_recur_n = (grad_proj[..., 2 * hidden :] * gates_rz[..., :hidden])
                grad_recur_n = grad_recur_n.reshape(steps * batch, hidden)
                grad_weight_hh = torch.cat(
                    (flat_proj[:, : 2 * hidden].t() @ prev_states, grad_recur_n.t() @ prev_states)
                )
            else:
                grad_recur_n = flat_proj[:, 2 * hidden :]
                reset_states = recur_n.reshape(steps * batch, hidden)
                grad_weight_hh = torch.cat(
                    (flat_proj[:, : 2 * hidden].t() @ prev_states, grad_recur_n.t() @ reset_states)
                )
            if ctx.has_bias:
                grad_bias_hh = torch.cat((flat_proj[:, : 2 * hidden].sum(0), grad_recur_n.sum(0)))
        return grad_proj, grad_h, grad_weight_hh, grad_bias_hh, grad_gate_bias_n, None, None, None


def _shift_states(states: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """(T, B, H) the state each step started from: h0 and then ``states`` shifted by one."""
    if reverse:
        return torch.cat((states[1:], h0.unsqueeze(0)))
    return torch.cat((h0.unsqueeze(0), states[:-1]))


class GRUCell(nn.Module):
    """A single GRU step with ``torch.nn.GRUCell``'s parameters, in either form.

    ``forward(input (B, input_size), hx (B, H) | None, gate_bias (B, 3H) | None) -> (B, H)``;
    unbatched (input_size,) inputs are accepted as by ``nn.GRUCell``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True):
        super().__init__()
        self.input_size, self.hidden_size, self.reset_after = input_size, hidden_size, reset_after
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def forward(self, input: Tensor, hx: Tensor | None = None, gate_bias: Tensor | None = None) -> Tensor:
        unbatched = input.dim() == 1
        if input.dim() not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"GRUCell expects input of shape (batch, {self.input_size}) or ({self.input_size},), "
                f"got {tuple(input.shape)}"
            )
        if unbatched:
            input = input.unsqueeze(0)
            hx = None if hx is None else hx.unsqueeze(0)
            gate_bias = None if gate_bias is None else gate_bias.unsqueeze(0)
        if hx is None:
            hx = input.new_zeros(input.shape[0], self.hidden_size)
        proj, gate_bias_n = with_gate_bias(F.linear(input, self.weight_ih, self.bias_ih), gate_bias)
        h = gru_step(proj, hx, self.weight_hh, self.bias_hh, self.reset_after, gate_bias_n)
        return h.squeeze(0) if unbatched else h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, reset_after={self.reset_after}"


def with_gate_bias(proj: Tensor, gate_bias: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Split a (B, 3H) gate bias between an input projection (..., B, 3H) and the step.

    Its reset and update parts are added to ``proj``; its candidate part (B, H) is returned
    for :func:`gru_step`, which adds it where the form says (inside the reset gate's
    product in the cuDNN form, beside ``W x`` in the paper's).
    """
    if gate_bias is None:
        return proj, None
    hidden = gate_bias.shape[-1] // 3
    return proj + F.pad(gate_bias[:, : 2 * hidden], (0, hidden)), gate_bias[:, 2 * hidden :]


class GRU(nn.Module):
    """Multi-layer GRU with ``torch.nn.GRU``'s arguments, shapes and parameter names.

    Args: as ``torch.nn.GRU`` plus ``reset_after`` (True: the cuDNN form, whose state
    dicts load both ways with ``nn.GRU``; False: the paper's form).

    ``forward(input, h0=None, lengths=None, gate_bias=None) -> (output, h_n)``:
        input: (T, B, input_size), or (B, T, input_size) with ``batch_first``, or
            (T, input_size) unbatched.
        h0: (num_layers * num_directions, B, H) or None (zeros).
        lengths: (B,) true lengths of right-padded sequences, 0 <= length <= T, or None.
            Padded steps change no state, the backward direction starts at each
            sequence's last real token, and outputs at padded positions are zero.
        gate_bias: (B, 3H) added to the gate pre-activations of every step of the first
            layer (see the module docstring); needs a unidirectional GRU.
        output: (T, B, num_directions * H) (batch_first: (B, T, ...)).
        h_n: (num_layers * num_directions, B, H), the state after each sequence's last
            real token (for the backward direction: after its first token).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        reset_after: bool = True,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.reset_after = bidirectional, reset_after
        self.num_directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes(layer):
                self.register_parameter(
                    f"weight_ih_{suffix}", nn.Parameter(torch.empty(3 * hidden_size, layer_input))
                )
                self.register_parameter(
                    f"weight_hh_{suffix}", nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
                )
                if bias:
                    self.register_parameter(f"bias_ih_{suffix}", nn.Parameter(torch.empty(3 * hidden_size)))
                    self.register_parameter(f"bias_hh_{suffix}", nn.Parameter(torch.empty(3 * hidden_size)))
        self.reset_parameters()

    def _suffixes(self, layer: int) -> list[str]:
        return [f"l{layer}"] + ([f"l{layer}_reverse"] if self.bidirectional else [])

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def layer_parameters(self, layer: int, direction: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction (1 = reverse)."""
        suffix = self._suffixes(layer)[direction]
        return (
            getattr(self, f"weight_ih_{suffix}"),
            getattr(self, f"weight_hh_{suffix}"),
            getattr(self, f"bias_ih_{suffix}", None),
            getattr(self, f"bias_hh_{suffix}", None),
        )

    def forward(
        self,
        input: Tensor,
        h0: Tensor | None = None,
        lengths: Tensor | None = None,
        gate_bias: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        unbatched = input.dim() == 2
        self._check_input(input)
        if unbatched:
            input = input.unsqueeze(1)
            h0 = None if h0 is None else h0.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        steps, batch = input.shape[0], input.shape[1]
        h0 = self._initial_state(input, h0)
        mask = self._padding_mask(lengths, steps, batch, input)
        if gate_bias is not None:
            self._check_gate_bias(gate_bias, batch)

        layer_input = input
        final_states = []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0.0 and self.training:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                states = self._run_direction(
                    layer_input, h0[index], layer, direction, mask,
                    gate_bias if layer == 0 else None,
                )
                final_states.append(states[0] if direction == 1 else states[-1])
                outputs.append(states)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
        output = layer_input if mask is None else layer_input * mask
        h_n = torch.stack(final_states)
        if unbatched:
            return output.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n

    def _run_direction(self, layer_input, h0, layer, direction, mask, gate_bias) -> Tensor:
        """(T, B, H) the states of one layer and direction."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_parameters(layer, direction)
        proj = F.linear(layer_input, weight_ih, bias_ih)  # (T, B, 3H): all steps at once
        proj, gate_bias_n = with_gate_bias(proj, gate_bias)
        return _GRURecurrence.apply(
            proj.contiguous(), h0, weight_hh, bias_hh, gate_bias_n, mask, self.reset_after, direction == 1
        )

    def _check_input(self, input: Tensor) -> None:
        if input.dim() not in (2, 3):
            raise ValueError(
                f"GRU expects a 3-D input ({'batch, time' if self.batch_first else 'time, batch'}, "
                f"features) or a 2-D unbatched one, got {input.dim()}-D of shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"GRU expects input feature size {self.input_size}, got {input.shape[-1]} "
                f"(input shape {tuple(input.shape)})"
            )

    def _initial_state(self, input: Tensor, h0: Tensor | None) -> Tensor:
        expected = (self.num_layers * self.num_directions, input.shape[1], self.hidden_size)
        if h0 is None:
            return input.new_zeros(expected)
        if tuple(h0.shape) != expected:
            raise ValueError(f"GRU expects h0 of shape {expected}, got {tuple(h0.shape)}")
        return h0

    def _padding_mask(self, lengths: Tensor | None, steps: int, batch: int, like: Tensor) -> Tensor | None:
        """(T, B, 1) 1.0 at real steps and 0.0 at padding, or None without lengths."""
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.shape[0] != batch:
            raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
        if lengths.device.type == "cpu" and bool(((lengths < 0) | (lengths > steps)).any()):
            raise ValueError(
                f"lengths must lie in [0, {steps}] (the input's time dimension), got "
                f"min {int(lengths.min())} and max {int(lengths.max())}"
            )
        positions = torch.arange(steps, device=like.device).unsqueeze(1)
        return (positions < lengths.to(like.device).unsqueeze(0)).to(like.dtype).unsqueeze(2)

    def _check_gate_bias(self, gate_bias: Tensor, batch: int) -> None:
        if self.bidirectional:
            raise ValueError("gate_bias needs a unidirectional GRU (it conditions a decoder)")
        expected = (batch, 3 * self.hidden_size)
        if tuple(gate_bias.shape) != expected:
            raise ValueError(f"gate_bias must have shape {expected}, got {tuple(gate_bias.shape)}")

    def input_projection(self, input: Tensor) -> Tensor:
        """(..., input_size) -> (..., 3H): the first layer's ``W x + b`` (forward direction),
        for callers that project every time step at once before stepping."""
        weight_ih, _, bias_ih, _ = self.layer_parameters(0, 0)
        return F.linear(input, weight_ih, bias_ih)

    def step(self, input: Tensor | None, hx: Tensor, gate_bias: Tensor | None = None, *,
             input_proj: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One time step of a unidirectional stack, for step-by-step decoding.

        Args:
            input: (B, input_size), or None when ``input_proj`` is given.
            hx: (num_layers, B, H).  gate_bias: (B, 3H) for the first layer, or None.
            input_proj: (B, 3H) the first layer's :meth:`input_projection` of the input,
                already computed.

        Returns:
            output (B, H) of the top layer and the new state (num_layers, B, H).
        """
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional GRU")
        if (input is None) == (input_proj is None):
            raise ValueError("step() takes input or input_proj, exactly one")
        proj = self.input_projection(input) if input_proj is None else input_proj
        proj, gate_bias_n = with_gate_bias(proj, gate_bias)
        new_states = []
        for layer in range(self.num_layers):
            _, weight_hh, _, bias_hh = self.layer_parameters(layer, 0)
            if layer > 0:
                layer_input = F.dropout(new_states[-1], self.dropout, self.training)
                weight_ih, _, bias_ih, _ = self.layer_parameters(layer, 0)
                proj, gate_bias_n = F.linear(layer_input, weight_ih, bias_ih), None
            new_states.append(gru_step(proj, hx[layer], weight_hh, bias_hh, self.reset_after,
                                       gate_bias_n))
        return new_states[-1], torch.stack(new_states)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text + f", reset_after={self.reset_after}"
