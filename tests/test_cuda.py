"""The GRU, the model and search on CUDA agree with the CPU. Skipped where CUDA is absent."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from seq2seq.gru import GRU
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.search import beam_search, greedy_search

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(autouse=True)
def full_precision_matmuls():
    """TF32 would make CUDA differ from the CPU by ~1e-3; compare full fp32 arithmetic."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gru_on_cuda_matches_cpu_with_lengths(reset_after, bidirectional):
    torch.manual_seed(0)
    gru = GRU(12, 16, num_layers=2, bidirectional=bidirectional, reset_after=reset_after)
    x = torch.randn(9, 5, 12, requires_grad=True)
    lengths = torch.tensor([9, 3, 7, 1, 9])
    gate_bias = None if bidirectional else torch.randn(5, 48)  # a decoder's c: one direction
    results = {}
    for device in ("cpu", "cuda"):
        layer = copy.deepcopy(gru).to(device)  # .to() would move the CPU run's grads in place
        xd = x.detach().to(device).requires_grad_()
        bias = None if gate_bias is None else gate_bias.to(device)
        output, h_n = layer(xd, lengths=lengths.to(device), gate_bias=bias)
        (output.square().sum() + h_n.sum()).backward()
        results[device] = [output, h_n, xd.grad, *(p.grad for p in layer.parameters())]
    for cpu, cuda in zip(results["cpu"], results["cuda"]):
        torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-4, atol=1e-5)


def test_gru_matches_cudnn_on_cuda():
    torch.manual_seed(0)
    ours = GRU(8, 16, bidirectional=True, reset_after=True).cuda()
    cudnn = nn.GRU(8, 16, bidirectional=True).cuda()
    cudnn.load_state_dict(ours.state_dict())
    x = torch.randn(6, 4, 8, device="cuda")
    for a, b in zip(ours(x), cudnn(x)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_gru_recurrence_runs_in_fp32_under_bf16_autocast():
    gru = GRU(8, 16, reset_after=True).cuda()
    x = torch.randn(5, 3, 8, device="cuda", requires_grad=True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        output, h_n = gru(x)
    assert h_n.dtype == torch.float32 and torch.isfinite(output).all()
    output.float().sum().backward()
    assert torch.isfinite(x.grad).all()


def sharpened_model(attention: str) -> Seq2Seq:
    """A small model (seed 0, in eval mode) with its output weights scaled 4x, so that the
    next-token distributions are peaked and near-ties rare."""
    torch.manual_seed(0)
    config = ModelConfig(src_vocab_size=30, tgt_vocab_size=25, embedding_size=16, hidden_size=24,
                         maxout_size=12, bidirectional_encoder=True, attention=attention,
                         init="pytorch")
    model = Seq2Seq(config).eval()
    with torch.no_grad():
        model.output.weight.mul_(4.0)
    return model


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_model_loss_and_search_on_cuda_match_cpu(attention):
    """float64 and sharpened outputs, so that no near-tie can flip a search decision."""
    model = sharpened_model(attention).double()
    src = torch.randint(4, 30, (3, 7))
    src_lengths = torch.tensor([7, 4, 2])
    tgt_in = torch.randint(4, 25, (3, 5))
    tgt_out = torch.randint(4, 25, (3, 5))
    limits = {"max_len_a": 1.0, "max_len_b": 3}  # a different limit per sentence
    results = {}
    for device in ("cpu", "cuda"):
        model.to(device)
        args = [t.to(device) for t in (src, src_lengths, tgt_in, tgt_out)]
        _, loss = model(*args)
        greedy = greedy_search(model, args[0], args[1], **limits)
        beam = beam_search(model, args[0], args[1], beam_size=4, nbest=2, **limits)
        results[device] = (loss.cpu(), greedy, beam)
    (cpu_loss, cpu_greedy, cpu_beam), (cuda_loss, cuda_greedy, cuda_beam) = results.values()
    torch.testing.assert_close(cuda_loss, cpu_loss, rtol=1e-9, atol=1e-9)
    assert [h.tokens for h in cuda_greedy] == [h.tokens for h in cpu_greedy]
    assert [[h.tokens for h in n] for n in cuda_beam] == [[h.tokens for h in n] for n in cpu_beam]
    assert [h.score for n in cuda_beam for h in n] == pytest.approx(
        [h.score for n in cpu_beam for h in n], abs=1e-9)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_search_with_half_precision_weights_on_cuda(dtype):
    """What ``--dtype`` does: the whole model in half precision (the float32 scoring of its
    logits is tested in test_search.py and test_translator.py)."""
    model = sharpened_model("bahdanau").cuda()
    src = torch.randint(4, 30, (6, 7)).cuda()  # drawn on the CPU: the same on every machine
    src_lengths = torch.tensor([7, 4, 2, 7, 5, 1]).cuda()
    full = beam_search(model, src, src_lengths, beam_size=4)
    half_model = copy.deepcopy(model).to(dtype)
    half = beam_search(half_model, src, src_lengths, beam_size=4)
    greedy = greedy_search(half_model, src, src_lengths)
    assert all(math.isfinite(h.log_prob) for h in [*greedy, *(n[0] for n in half)])
    same = [a[0].tokens == b[0].tokens for a, b in zip(half, full)]
    assert sum(same) >= 3  # near-ties may flip in half precision
    for a, b, equal in zip(half, full, same):
        if equal:
            assert a[0].log_prob == pytest.approx(b[0].log_prob, rel=0.1, abs=0.05)
