"""Parity of seq2seq.gru with torch.nn.GRU (cuDNN form) and with the paper's equations."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.gru import GRU, GRUCell

TOL = {"rtol": 0, "atol": 1e-10}
T, B, IN, H = 7, 5, 4, 3
LENGTHS = torch.tensor([7, 3, 5, 1, 6])


def make_pair(num_layers, bidirectional, batch_first, reset_after=True, bias=True):
    torch.manual_seed(0)
    ours = GRU(IN, H, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
               reset_after=reset_after).double()
    reference = nn.GRU(IN, H, num_layers, bias=bias, batch_first=batch_first,
                       bidirectional=bidirectional).double()
    reference.load_state_dict(ours.state_dict())
    return ours, reference


def make_inputs(num_layers, bidirectional, batch_first):
    torch.manual_seed(1)
    shape = (B, T, IN) if batch_first else (T, B, IN)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(num_layers * (2 if bidirectional else 1), B, H, dtype=torch.float64,
                     requires_grad=True)
    return x, h0


def loss_of(output, h_n):
    """A loss that weighs every output and final-state element differently."""
    gen = torch.Generator().manual_seed(2)
    w_out = torch.randn(output.shape, generator=gen, dtype=output.dtype)
    w_h = torch.randn(h_n.shape, generator=gen, dtype=h_n.dtype)
    return (output * w_out).sum() + (h_n * w_h).sum()


def gradients(module, x, h0, output, h_n):
    loss_of(output, h_n).backward()
    grads = {name: p.grad.clone() for name, p in module.named_parameters()}
    grads["input"], grads["h0"] = x.grad.clone(), h0.grad.clone()
    module.zero_grad(set_to_none=True)
    x.grad = h0.grad = None
    return grads


CONFIGS = list(itertools.product([1, 2], [False, True], [False, True]))


@pytest.mark.parametrize("num_layers,bidirectional,batch_first", CONFIGS)
def test_matches_nn_gru_full_length(num_layers, bidirectional, batch_first):
    ours, reference = make_pair(num_layers, bidirectional, batch_first)
    x, h0 = make_inputs(num_layers, bidirectional, batch_first)
    out, h_n = ours(x, h0)
    ref_out, ref_h_n = reference(x, h0)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(h_n, ref_h_n, **TOL)
    ours_grads = gradients(ours, x, h0, out, h_n)
    ref_grads = gradients(reference, x, h0, ref_out, ref_h_n)
    assert ours_grads.keys() == ref_grads.keys()
    for name in ours_grads:
        torch.testing.assert_close(ours_grads[name], ref_grads[name], **TOL, msg=name)


@pytest.mark.parametrize("num_layers,bidirectional,batch_first", CONFIGS)
def test_matches_packed_nn_gru_with_lengths(num_layers, bidirectional, batch_first):
    ours, reference = make_pair(num_layers, bidirectional, batch_first)
    x, h0 = make_inputs(num_layers, bidirectional, batch_first)
    out, h_n = ours(x, h0, lengths=LENGTHS)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    ref_packed, ref_h_n = reference(packed, h0)
    ref_out, _ = pad_packed_sequence(ref_packed, batch_first=batch_first, total_length=T)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(h_n, ref_h_n, **TOL)
    ours_grads = gradients(ours, x, h0, out, h_n)
    ref_grads = gradients(reference, x, h0, ref_out, ref_h_n)
    for name in ours_grads:
        torch.testing.assert_close(ours_grads[name], ref_grads[name], **TOL, msg=name)


def test_padded_outputs_are_zero_and_padding_does_not_leak():
    torch.manual_seed(3)
    gru = GRU(IN, H, bidirectional=True, reset_after=False).double()
    x = torch.randn(T, B, IN, dtype=torch.float64)
    out, h_n = gru(x, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS.tolist()):
        assert out[length:, b].abs().max().item() == 0.0 if length < T else True
    noisy = x.clone()
    for b, length in enumerate(LENGTHS.tolist()):
        noisy[length:, b] = 1e3 * torch.randn(T - length, IN, dtype=torch.float64)
    noisy_out, noisy_h_n = gru(noisy, lengths=LENGTHS)
    torch.testing.assert_close(noisy_out, out, **TOL)
    torch.testing.assert_close(noisy_h_n, h_n, **TOL)


def test_state_dict_loads_both_ways():
    reference = nn.GRU(IN, H, 2, bidirectional=True)
    ours = GRU(IN, H, 2, bidirectional=True)
    assert set(ours.state_dict()) == set(reference.state_dict())
    ours.load_state_dict(reference.state_dict())
    reference.load_state_dict(GRU(IN, H, 2, bidirectional=True).state_dict())
    no_bias = GRU(IN, H, bias=False)
    assert set(no_bias.state_dict()) == set(nn.GRU(IN, H, bias=False).state_dict())


def test_matches_nn_gru_without_bias():
    ours, reference = make_pair(1, False, False, bias=False)
    x, h0 = make_inputs(1, False, False)
    out, _ = ours(x, h0, lengths=LENGTHS)
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    ref_out, _ = pad_packed_sequence(reference(packed, h0)[0], total_length=T)
    torch.testing.assert_close(out, ref_out, **TOL)


# --- the paper's form, against a transcription of its equations ---------------------------

def paper_gru_reference(gru, x, h0, lengths, gate_bias=None):
    """Cho et al. (2014) eqs. 5-8, one sequence and one step at a time; r gates C c too."""
    sig = torch.sigmoid
    outputs = torch.zeros(x.shape[0], x.shape[1], gru.num_directions * H, dtype=x.dtype)
    finals = []
    layer_input = x
    for layer in range(gru.num_layers):
        layer_out = []
        for direction in range(gru.num_directions):
            w_ih, w_hh, b_ih, b_hh = gru.layer_parameters(layer, direction)
            W_r, W_z, W = w_ih.split(H)
            U_r, U_z, U = w_hh.split(H)
            b_ir, b_iz, b_in = b_ih.split(H)
            b_hr, b_hz, b_hn = b_hh.split(H)
            seq_states, final = [], []
            for b in range(x.shape[1]):
                h = h0[layer * gru.num_directions + direction, b]
                steps = list(range(int(lengths[b])))
                if direction == 1:
                    steps.reverse()
                states = [torch.zeros(H, dtype=x.dtype)] * x.shape[0]
                for t in steps:
                    xt = layer_input[t, b]
                    c_r = c_z = c_n = 0.0
                    if gate_bias is not None and layer == 0:
                        c_r, c_z, c_n = gate_bias[b].split(H)
                    r = sig(W_r @ xt + b_ir + U_r @ h + b_hr + c_r)
                    z = sig(W_z @ xt + b_iz + U_z @ h + b_hz + c_z)
                    h_tilde = torch.tanh(W @ xt + b_in + U @ (r * h) + b_hn + r * c_n)
                    h = z * h + (1 - z) * h_tilde
                    states[t] = h
                seq_states.append(torch.stack(states))
                final.append(h)
            layer_out.append(torch.stack(seq_states, dim=1))
            finals.append(torch.stack(final))
        layer_input = torch.cat(layer_out, dim=2)
    outputs = layer_input
    return outputs, torch.stack(finals)


@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
def test_paper_form_matches_equations(num_layers, bidirectional):
    torch.manual_seed(4)
    gru = GRU(IN, H, num_layers, bidirectional=bidirectional, reset_after=False).double()
    x, h0 = make_inputs(num_layers, bidirectional, False)
    out, h_n = gru(x, h0, lengths=LENGTHS)
    ref_out, ref_h_n = paper_gru_reference(gru, x, h0, LENGTHS)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(h_n, ref_h_n, **TOL)
    ours_grads = gradients(gru, x, h0, out, h_n)
    ref_grads = gradients(gru, x, h0, ref_out, ref_h_n)
    for name in ours_grads:
        torch.testing.assert_close(ours_grads[name], ref_grads[name], **TOL, msg=name)


def test_paper_form_differs_from_cudnn_form():
    torch.manual_seed(5)
    paper = GRU(IN, H, reset_after=False).double()
    cudnn = GRU(IN, H, reset_after=True).double()
    cudnn.load_state_dict(paper.state_dict())
    x = torch.randn(T, B, IN, dtype=torch.float64)
    assert (paper(x)[0] - cudnn(x)[0]).abs().max() > 1e-3


@pytest.mark.parametrize("reset_after", [False, True])
def test_gate_bias_matches_reference(reset_after):
    torch.manual_seed(6)
    gru = GRU(IN, H, reset_after=reset_after).double()
    x, h0 = make_inputs(1, False, False)
    gate_bias = torch.randn(B, 3 * H, dtype=torch.float64, requires_grad=True)
    out, h_n = gru(x, h0, lengths=LENGTHS, gate_bias=gate_bias)
    if reset_after:
        ref_out, ref_h_n = reset_after_reference(gru, x, h0, LENGTHS, gate_bias)
    else:
        ref_out, ref_h_n = paper_gru_reference(gru, x, h0, LENGTHS, gate_bias)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(h_n, ref_h_n, **TOL)
    (grad,) = torch.autograd.grad(loss_of(out, h_n), gate_bias)
    (ref_grad,) = torch.autograd.grad(loss_of(ref_out, ref_h_n), gate_bias)
    torch.testing.assert_close(grad, ref_grad, **TOL)


def reset_after_reference(gru, x, h0, lengths, gate_bias):
    """The decoder of Appendix A in the cuDNN form: n = tanh(W x + b + r ⊙ (U h + b_h + C c))."""
    w_ih, w_hh, b_ih, b_hh = gru.layer_parameters(0, 0)
    outputs, finals = [], []
    for b in range(x.shape[1]):
        h, states = h0[0, b], [torch.zeros(H, dtype=x.dtype)] * x.shape[0]
        for t in range(int(lengths[b])):
            gi = w_ih @ x[t, b] + b_ih
            gh = w_hh @ h + b_hh + gate_bias[b]
            r = torch.sigmoid(gi[:H] + gh[:H])
            z = torch.sigmoid(gi[H:2 * H] + gh[H:2 * H])
            n = torch.tanh(gi[2 * H:] + r * gh[2 * H:])
            h = (1 - z) * n + z * h
            states[t] = h
        outputs.append(torch.stack(states))
        finals.append(h)
    return torch.stack(outputs, dim=1), torch.stack(finals).unsqueeze(0)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gradcheck(reset_after):
    torch.manual_seed(7)
    gru = GRU(3, 2, num_layers=2, bidirectional=True, reset_after=reset_after).double()
    x = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 3])
    params = tuple(gru.parameters())

    def run(x, h0, *weights):
        named = dict(zip((n for n, _ in gru.named_parameters()), weights))
        return torch.func.functional_call(gru, named, (x, h0), {"lengths": lengths})

    assert torch.autograd.gradcheck(run, (x, h0) + params)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gradcheck_gate_bias(reset_after):
    torch.manual_seed(8)
    gru = GRU(3, 2, reset_after=reset_after).double()
    x = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    gate_bias = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, g: gru(x, lengths=torch.tensor([4, 1, 3]), gate_bias=g), (x, gate_bias)
    )


def test_cpu_bf16_autocast_runs_the_loop_in_fp32():
    """Training with precision bf16-mixed: the input projections run in bf16, the
    recurrence in fp32; outputs and gradients stay near fp32's, weights' gradients fp32."""
    torch.manual_seed(0)
    gru = GRU(6, 8, num_layers=2, bidirectional=True)
    x = torch.randn(5, 3, 6)
    lengths = torch.tensor([5, 3, 1])
    expected, expected_h = gru(x, lengths=lengths)
    expected.sum().backward()
    expected_grads = [p.grad.clone() for p in gru.parameters()]
    gru.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, h_n = gru(x, lengths=lengths)
    assert output.dtype == torch.float32  # the loop's output: fp32, not bf16
    torch.testing.assert_close(output, expected, rtol=0, atol=2e-2)
    torch.testing.assert_close(h_n, expected_h, rtol=0, atol=2e-2)
    output.sum().backward()
    for param, grad in zip(gru.parameters(), expected_grads):
        assert param.grad.dtype == torch.float32
        torch.testing.assert_close(param.grad, grad, rtol=0, atol=5e-2)


@pytest.mark.parametrize("reset_after", [False, True])
def test_step_and_cell_match_the_layer(reset_after):
    torch.manual_seed(9)
    gru = GRU(IN, H, num_layers=2, reset_after=reset_after).double()
    x = torch.randn(T, B, IN, dtype=torch.float64)
    gate_bias = torch.randn(B, 3 * H, dtype=torch.float64)
    out, h_n = gru(x, gate_bias=gate_bias)
    h = torch.zeros(2, B, H, dtype=torch.float64)
    for t in range(T):
        step_out, h = gru.step(x[t], h, gate_bias)
        torch.testing.assert_close(step_out, out[t], **TOL)
    torch.testing.assert_close(h, h_n, **TOL)
    projected = gru.input_projection(x)  # (T, B, 3H), as the attention decoder steps
    h = torch.zeros(2, B, H, dtype=torch.float64)
    for t in range(T):
        step_out, h = gru.step(None, h, gate_bias, input_proj=projected[t])
        torch.testing.assert_close(step_out, out[t], **TOL)
    with pytest.raises(ValueError, match="input or input_proj, exactly one"):
        gru.step(x[0], h, input_proj=projected[0])

    cell = GRUCell(IN, H, reset_after=reset_after).double()
    single = GRU(IN, H, reset_after=reset_after).double()
    single.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    out, _ = single(x, gate_bias=gate_bias)
    h = torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):
        h = cell(x[t], h, gate_bias)
    torch.testing.assert_close(h, out[-1], **TOL)


def test_cell_matches_nn_gru_cell():
    torch.manual_seed(10)
    ours = GRUCell(IN, H).double()
    reference = nn.GRUCell(IN, H).double()
    reference.load_state_dict(ours.state_dict())
    x, h = torch.randn(B, IN, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    torch.testing.assert_close(ours(x, h), reference(x, h), **TOL)
    torch.testing.assert_close(ours(x[0], h[0]), reference(x[0], h[0]), **TOL)


def test_unbatched_input_matches_batched():
    gru = GRU(IN, H, bidirectional=True).double()
    x = torch.randn(T, IN, dtype=torch.float64)
    out, h_n = gru(x)
    batched_out, batched_h_n = gru(x.unsqueeze(1))
    torch.testing.assert_close(out, batched_out.squeeze(1), **TOL)
    torch.testing.assert_close(h_n, batched_h_n.squeeze(1), **TOL)


def test_dropout_only_between_layers_and_only_in_training():
    torch.manual_seed(11)
    gru = GRU(IN, H, num_layers=2, dropout=0.5)
    x = torch.randn(T, B, IN)
    gru.eval()
    torch.testing.assert_close(gru(x)[0], gru(x)[0], rtol=0, atol=0)
    no_dropout = GRU(IN, H, num_layers=2)
    no_dropout.load_state_dict(gru.state_dict())
    torch.testing.assert_close(gru(x)[0], no_dropout(x)[0], rtol=0, atol=0)
    gru.train()
    assert not torch.equal(gru(x)[0], gru(x)[0])
    single = GRU(IN, H, num_layers=1, dropout=0.5).train()
    torch.testing.assert_close(single(x)[0], single(x)[0], rtol=0, atol=0)


def test_zero_length_sequences_keep_initial_state():
    gru = GRU(IN, H, bidirectional=True).double()
    x = torch.randn(T, 2, IN, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, H, dtype=torch.float64)
    out, h_n = gru(x, h0, lengths=torch.tensor([0, 4]))
    assert torch.equal(out[:, 0], torch.zeros(T, 2 * H, dtype=torch.float64))
    torch.testing.assert_close(h_n[:, 0], h0[:, 0], **TOL)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda g: g(torch.randn(2, 3, 4, 5)), "3-D input"),
        (lambda g: g(torch.randn(T, B, IN + 1)), "feature size 4"),
        (lambda g: g(torch.randn(T, B, IN), lengths=torch.tensor([1, 2])), r"lengths must have shape \(5,\)"),
        (lambda g: g(torch.randn(T, B, IN), lengths=torch.tensor([8, 1, 1, 1, 1])), r"lengths must lie in \[0, 7\]"),
        (lambda g: g(torch.randn(T, B, IN), lengths=torch.tensor([-1, 1, 1, 1, 1])), "lengths must lie"),
        (lambda g: g(torch.randn(T, B, IN), torch.randn(2, B, H)), "h0 of shape"),
        (lambda g: g(torch.randn(T, B, IN), gate_bias=torch.randn(B, H)), "gate_bias must have shape"),
    ],
)
def test_bad_input_gets_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(GRU(IN, H))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="dropout"):
        GRU(IN, H, dropout=1.5)
    with pytest.raises(ValueError, match="num_layers"):
        GRU(IN, H, num_layers=0)
    with pytest.raises(ValueError, match="unidirectional"):
        GRU(IN, H, bidirectional=True)(torch.randn(T, B, IN), gate_bias=torch.randn(B, 3 * H))
