"""The RNN Encoder–Decoder: shapes, the paper's structure, step decoding, learning."""

import pytest
import torch

from seq2seq.model import ModelConfig, Seq2Seq

SMALL = {"src_vocab_size": 13, "tgt_vocab_size": 11, "embedding_size": 6, "hidden_size": 8,
         "maxout_size": 5}


def batch(seed=0, batch_size=4, src_len=6, tgt_len=5):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 13, (batch_size, src_len), generator=gen)
    src_lengths = torch.tensor([src_len, 3, 1, 5][:batch_size])
    for b, length in enumerate(src_lengths.tolist()):
        src[b, length:] = 0
    tgt_out = torch.randint(4, 11, (batch_size, tgt_len), generator=gen)
    tgt_out[:, -1] = 3
    tgt_in = torch.cat([torch.full((batch_size, 1), 2), tgt_out[:, :-1]], dim=1)
    return src, src_lengths, tgt_in, tgt_out


VARIANTS = [
    {},
    {"gru_form": "paper"},
    {"attention": "bahdanau"},
    {"attention": "bahdanau", "bidirectional_encoder": True, "num_layers": 2, "gru_form": "paper"},
    {"bidirectional_encoder": True, "num_layers": 2, "output_rank": 6, "tie_embeddings": True},
]


@pytest.mark.parametrize("options", VARIANTS)
def test_teacher_forced_logits_equal_step_by_step_decoding(options):
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(**SMALL, init="pytorch", **options)).double().eval()
    src, src_lengths, tgt_in, tgt_out = batch()
    logits, loss = model(src, src_lengths, tgt_in, tgt_out)
    assert logits.shape == (4, 5, 11) and loss.ndim == 0
    encoded = model.encode(src, src_lengths)
    hidden = model.initial_hidden(encoded)
    for t in range(tgt_in.shape[1]):
        step_logits, hidden, _ = model.decode_step(tgt_in[:, t], hidden, encoded)
        torch.testing.assert_close(step_logits, logits[:, t], rtol=0, atol=1e-10)


def test_source_padding_does_not_change_the_translation_model():
    torch.manual_seed(1)
    for attention in ("none", "bahdanau"):
        model = Seq2Seq(ModelConfig(**SMALL, attention=attention, bidirectional_encoder=True,
                                    init="pytorch")).double().eval()
        src, src_lengths, tgt_in, _ = batch()
        logits, _ = model(src, src_lengths, tgt_in)
        padded = torch.cat([src, torch.full((4, 3), 7)], dim=1)  # junk beyond the lengths
        padded_logits, _ = model(padded, src_lengths, tgt_in)
        torch.testing.assert_close(padded_logits, logits, rtol=0, atol=1e-10)


def test_loss_ignores_padding_and_is_per_token():
    model = Seq2Seq(ModelConfig(**SMALL)).double()
    src, src_lengths, tgt_in, tgt_out = batch()
    tgt_out[1, 3:] = 0
    logits, loss = model(src, src_lengths, tgt_in, tgt_out)
    log_probs = logits.log_softmax(-1)
    mask = tgt_out != 0
    expected = -log_probs.gather(2, tgt_out.unsqueeze(2)).squeeze(2)[mask].mean()
    torch.testing.assert_close(loss, expected)


def test_summary_enters_every_gate_and_the_readout():
    """The paper's c: changing only the summary changes the decoder's gates and readout."""
    model = Seq2Seq(ModelConfig(**SMALL, init="pytorch")).double()
    src, src_lengths, _, _ = batch()
    encoded = model.encode(src, src_lengths)
    assert encoded.gate_bias.shape == (4, 3 * 8)
    assert encoded.readout_bias.shape == (4, 2 * 5)
    torch.testing.assert_close(encoded.gate_bias, model.context_gates(encoded.summary))
    torch.testing.assert_close(encoded.summary, torch.tanh(model.summary(
        model.encoder(model.src_embedding(src.t()), lengths=src_lengths)[1][-1])))


def test_paper_initialisation():
    model = Seq2Seq(ModelConfig(**{**SMALL, "hidden_size": 64, "embedding_size": 32}, init="paper"))
    u_r = model.decoder.weight_hh_l0[:64]
    torch.testing.assert_close(u_r @ u_r.t(), torch.eye(64), atol=1e-5, rtol=0)
    assert model.decoder.bias_ih_l0.abs().max() == 0
    assert 0.005 < model.readout_state.weight.std() < 0.015
    assert model.src_embedding.weight[0].abs().max() == 0


def test_tied_embeddings_share_storage_and_bad_tie_is_refused():
    model = Seq2Seq(ModelConfig(**SMALL, output_rank=6, tie_embeddings=True))
    assert model.output.weight is model.tgt_embedding.weight
    with pytest.raises(ValueError, match="tie_embeddings"):
        ModelConfig(**SMALL, tie_embeddings=True)


@pytest.mark.parametrize("option,value", [("gru_form", "lstm"), ("attention", "luong"),
                                          ("dropout_readout", 1.0), ("hidden_size", 0),
                                          ("hidden_size", 64.0), ("num_layers", "2"),
                                          ("output_rank", 0), ("src_vocab_size", True)])
def test_bad_options_are_named(option, value):
    with pytest.raises(ValueError, match=option):
        ModelConfig(**{**SMALL, option: value})


def test_config_round_trip():
    config = ModelConfig(**SMALL, attention="bahdanau")
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown model options"):
        ModelConfig.from_dict({**config.to_dict(), "colour": 1})


def test_empty_source_gives_finite_outputs():
    for attention in ("none", "bahdanau"):
        model = Seq2Seq(ModelConfig(**SMALL, attention=attention))
        src, _, tgt_in, tgt_out = batch()
        logits, loss = model(src, torch.tensor([0, 3, 1, 5]), tgt_in, tgt_out)
        assert torch.isfinite(logits).all() and torch.isfinite(loss)


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_learns_to_reverse_short_sequences(attention):
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(src_vocab_size=8, tgt_vocab_size=8, embedding_size=16,
                                hidden_size=32, maxout_size=16, attention=attention,
                                init="pytorch"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(1)
    for _ in range(150):
        src = torch.randint(4, 8, (32, 4), generator=gen)
        tgt_out = torch.cat([src.flip(1), torch.full((32, 1), 3)], dim=1)
        tgt_in = torch.cat([torch.full((32, 1), 2), src.flip(1)], dim=1)
        _, loss = model(src, torch.full((32,), 4), tgt_in, tgt_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.3
