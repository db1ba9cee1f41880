"""The RNN Encoder–Decoder of Cho et al. (2014, Appendix A), optionally with Bahdanau attention.

    encoder:  h_t = GRU(e(x_t), h_{t-1});   c = tanh(V h_N)
    decoder:  h'_0 = tanh(V' c);   h'_t = GRU(e(y_{t-1}), h'_{t-1}) with C_r c, C_z c, C c
              added to its gates (``gate_bias`` of :class:`seq2seq.gru.GRU`)
    readout:  s'_t = O_h h'_t + O_y e(y_{t-1}) + O_c c;  s_t = maxout over pairs of s'_t
              p(y_t | y_<t, x) = softmax(G s_t)    (G optionally factored: G = G_2 G_1)

With ``attention="bahdanau"`` (Bahdanau et al. 2015) the fixed c in the gates and the
readout is replaced by a per-step context c_t = Σ_j α_tj h_j, α_t = softmax_j(v · tanh(W_a
h'_{t-1} + U_a h_j)), and the decoder runs one step at a time.

Plain torch: no Lightning import. Tensors are batch-first at the interface, time-major
inside (the GRU loop walks the first dimension).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.gru import GRU
from seq2seq.vocab import PAD_ID

ATTENTION_KINDS = ("none", "bahdanau")
GRU_FORMS = ("paper", "reset_after")
INITS = ("paper", "pytorch")


@dataclass(frozen=True)
class ModelOptions:
    """The network's shape: what a user chooses (``--model.network.*`` in training).

    Paper values (Cho et al. 2014; Bahdanau et al. 2015 in brackets): embedding_size 100
    [620], hidden_size 1000, maxout_size 500, output_rank 100 (the paper's rank-100 G),
    gru_form "paper", init "paper", attention "none".
    """

    embedding_size: int = 256
    hidden_size: int = 512
    maxout_size: int = 256
    output_rank: int | None = None
    gru_form: str = "reset_after"
    num_layers: int = 1
    bidirectional_encoder: bool = False
    dropout_embedding: float = 0.0
    dropout_hidden: float = 0.0
    dropout_readout: float = 0.0
    tie_embeddings: bool = False
    init: str = "paper"
    attention: str = "none"
    attention_size: int | None = None

    def __post_init__(self) -> None:
        _check_choice("gru_form", self.gru_form, GRU_FORMS)
        _check_choice("init", self.init, INITS)
        _check_choice("attention", self.attention, ATTENTION_KINDS)
        for name in ("embedding_size", "hidden_size", "maxout_size", "num_layers"):
            _check_positive(name, getattr(self, name))
        for name in ("output_rank", "attention_size"):
            if getattr(self, name) is not None:
                _check_positive(name, getattr(self, name))
        for name in ("dropout_embedding", "dropout_hidden", "dropout_readout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"model option {name} must be in [0, 1), got {getattr(self, name)}")
        if self.tie_embeddings and self.output_features != self.embedding_size:
            raise ValueError(
                "tie_embeddings needs the output layer's input size to equal embedding_size: set "
                f"output_rank={self.embedding_size} (or maxout_size={self.embedding_size} without "
                f"output_rank); now it is {self.output_features}"
            )

    @property
    def output_features(self) -> int:
        """Size of the vector the final vocabulary projection reads."""
        return self.output_rank or self.maxout_size


@dataclass(frozen=True, kw_only=True)
class ModelConfig(ModelOptions):
    """Everything needed to rebuild a :class:`Seq2Seq`: the options and the vocabulary
    sizes (the paper's: 15k [30k] words), which the data decides; saved in every checkpoint.
    """

    src_vocab_size: int
    tgt_vocab_size: int

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("src_vocab_size", "tgt_vocab_size"):
            _check_positive(name, getattr(self, name))

    @classmethod
    def of(cls, options: ModelOptions, src_vocab_size: int, tgt_vocab_size: int) -> ModelConfig:
        return cls(**asdict(options), src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model options {unknown}")
        return cls(**data)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"model option {name} must be a positive integer, got {value!r}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"model option {name} must be one of {list(choices)}, got {value!r}")


@dataclass
class EncoderState:
    """What the decoder reads of an encoded batch of B sentences.

    summary: (B, H) c = tanh(V h_N).
    gate_bias: (B, 3H) C c, the decoder's constant gate terms (no attention), else None.
    readout_bias: (B, 2M) O_c c (no attention), else None.
    memory: (S, B, D·H) encoder outputs (attention), else None.
    keys: (S, B, A) U_a h_j, precomputed once (attention), else None.
    src_mask: (S, B) True at real source positions (attention), else None.
    """

    summary: Tensor
    gate_bias: Tensor | None = None
    readout_bias: Tensor | None = None
    memory: Tensor | None = None
    keys: Tensor | None = None
    src_mask: Tensor | None = None

    def index_select(self, index: Tensor) -> EncoderState:
        """Select (and repeat) sentences, e.g. to expand to beams: index (N,) -> batch N."""
        def pick(tensor: Tensor | None, dim: int) -> Tensor | None:
            return None if tensor is None else tensor.index_select(dim, index)

        return replace(
            self,
            summary=pick(self.summary, 0),
            gate_bias=pick(self.gate_bias, 0),
            readout_bias=pick(self.readout_bias, 0),
            memory=pick(self.memory, 1),
            keys=pick(self.keys, 1),
            src_mask=pick(self.src_mask, 1),
        )


class BahdanauAttention(nn.Module):
    """Additive attention: α_j = softmax_j(v · tanh(W_a q + U_a h_j))."""

    def __init__(self, query_size: int, memory_size: int, attention_size: int):
        super().__init__()
        self.memory_proj = nn.Linear(memory_size, attention_size, bias=False)  # U_a
        self.query_proj = nn.Linear(query_size, attention_size)  # W_a
        self.score = nn.Linear(attention_size, 1, bias=False)  # v

    def keys(self, memory: Tensor) -> Tensor:
        """(S, B, memory_size) -> (S, B, A): U_a h_j, computed once per sentence."""
        return self.memory_proj(memory)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, src_mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, Q), keys (S, B, A), memory (S, B, M), src_mask (S, B) -> context (B, M), weights (S, B)."""
        energy = self.score(torch.tanh(keys + self.query_proj(query))).squeeze(2)  # (S, B)
        # A finite fill keeps an all-padding (empty) source finite: uniform weights over zeros.
        energy = energy.masked_fill(~src_mask, torch.finfo(energy.dtype).min)
        weights = torch.softmax(energy, dim=0)
        # One batched product rather than weights * memory summed, which materialises
        # (S, B, M) forward and backward at every step: 3-4x faster for this operation
        # alone, though a whole training step is unchanged within noise (docs/BENCHMARKS.md).
        context = torch.einsum("sb,sbm->bm", weights, memory)
        return context, weights


class Seq2Seq(nn.Module):
    """The RNN Encoder–Decoder. Build with ``Seq2Seq(ModelConfig(...))``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        reset_after = c.gru_form == "reset_after"
        directions = 2 if c.bidirectional_encoder else 1
        memory_size = directions * c.hidden_size

        self.src_embedding = nn.Embedding(c.src_vocab_size, c.embedding_size, padding_idx=PAD_ID)
        self.tgt_embedding = nn.Embedding(c.tgt_vocab_size, c.embedding_size, padding_idx=PAD_ID)
        self.encoder = GRU(c.embedding_size, c.hidden_size, c.num_layers, dropout=c.dropout_hidden,
                           bidirectional=c.bidirectional_encoder, reset_after=reset_after)
        self.summary = nn.Linear(memory_size, c.hidden_size)  # V
        self.decoder_init = nn.Linear(c.hidden_size, c.num_layers * c.hidden_size)  # V'
        self.decoder = GRU(c.embedding_size, c.hidden_size, c.num_layers, dropout=c.dropout_hidden,
                           reset_after=reset_after)
        context_size = memory_size if c.attention == "bahdanau" else c.hidden_size
        self.context_gates = nn.Linear(context_size, 3 * c.hidden_size, bias=False)  # C_r, C_z, C
        self.readout_state = nn.Linear(c.hidden_size, 2 * c.maxout_size)  # O_h
        self.readout_embedding = nn.Linear(c.embedding_size, 2 * c.maxout_size, bias=False)  # O_y
        self.readout_context = nn.Linear(context_size, 2 * c.maxout_size, bias=False)  # O_c
        self.output_factor = (
            nn.Linear(c.maxout_size, c.output_rank, bias=False) if c.output_rank else None
        )
        self.output = nn.Linear(c.output_features, c.tgt_vocab_size)  # G
        self.attention = (
            BahdanauAttention(c.hidden_size, memory_size, c.attention_size or c.hidden_size)
            if c.attention == "bahdanau" else None
        )
        self.reset_parameters()
        if c.tie_embeddings:
            self.output.weight = self.tgt_embedding.weight

    def reset_parameters(self) -> None:
        """``init="paper"``: N(0, 0.01²) weights, orthogonal recurrent blocks, zero biases."""
        if self.config.init == "pytorch":
            return
        for name, param in self.named_parameters():
            if "bias" in name:
                nn.init.zeros_(param)
            elif "weight_hh" in name:
                for block in param.data.chunk(3, dim=0):  # U_r, U_z, U each orthogonal
                    nn.init.orthogonal_(block)
            else:
                nn.init.normal_(param, 0.0, 0.01)
        for embedding in (self.src_embedding, self.tgt_embedding):
            embedding.weight.data[PAD_ID].zero_()

    # ---- encoder ----------------------------------------------------------------------

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderState:
        """src (B, S) token ids, src_lengths (B,) -> the decoder's view of the source."""
        embedded = F.dropout(self.src_embedding(src.t()), self.config.dropout_embedding, self.training)
        memory, h_n = self.encoder(embedded, lengths=src_lengths)  # (S, B, D·H), (L·D, B, H)
        directions = 2 if self.config.bidirectional_encoder else 1
        last_layer = h_n[-directions:]  # (D, B, H)
        summary = torch.tanh(self.summary(torch.cat(tuple(last_layer), dim=1)))  # c: (B, H)
        if self.attention is None:
            return EncoderState(
                summary=summary,
                gate_bias=self.context_gates(summary),
                readout_bias=self.readout_context(summary),
            )
        steps = memory.shape[0]
        src_mask = torch.arange(steps, device=src.device).unsqueeze(1) < src_lengths.to(src.device)
        return EncoderState(summary=summary, memory=memory, keys=self.attention.keys(memory),
                            src_mask=src_mask)

    def initial_hidden(self, encoded: EncoderState) -> Tensor:
        """(L, B, H) h'_0 = tanh(V' c)."""
        batch = encoded.summary.shape[0]
        init = torch.tanh(self.decoder_init(encoded.summary))
        return init.view(batch, self.config.num_layers, self.config.hidden_size).transpose(0, 1).contiguous()

    # ---- decoder ----------------------------------------------------------------------

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                tgt_out: Tensor | None = None, label_smoothing: float = 0.0) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced training pass.

        Args:
            src: (B, S), src_lengths: (B,), tgt_in: (B, T) BOS + target, tgt_out: (B, T)
            target + EOS, padded with PAD_ID (ignored by the loss).

        Returns:
            logits (B, T, V) and, with ``tgt_out``, the cross entropy per target token.
        """
        encoded = self.encode(src, src_lengths)
        embedded = F.dropout(self.tgt_embedding(tgt_in.t()), self.config.dropout_embedding,
                             self.training)  # (T, B, E)
        hidden = self.initial_hidden(encoded)
        if self.attention is None:
            states, _ = self.decoder(embedded, hidden, gate_bias=encoded.gate_bias)  # (T, B, H)
            logits = self._logits(states, embedded, encoded.readout_bias)
        else:
            states, contexts = self._attend_and_decode(embedded, hidden, encoded)
            logits = self._logits(states, embedded, self.readout_context(contexts))
        loss = None
        if tgt_out is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.t().reshape(-1),
                                   ignore_index=PAD_ID, label_smoothing=label_smoothing)
        return logits.transpose(0, 1), loss

    def _attend_and_decode(self, embedded: Tensor, hidden: Tensor, encoded: EncoderState):
        """The attention decoder's loop: (T, B, E) -> states (T, B, H), contexts (T, B, D·H)."""
        proj = self.decoder.input_projection(embedded)  # (T, B, 3H), all steps at once
        states, contexts = [], []
        # unbind, not proj[t]: the backward of T selects zero-fills and adds a whole
        # (T, B, 3H) gradient at every step, T² work; unbind's backward is one stack.
        # Gradients are bit-identical; at Multi30k lengths the step time moved within
        # noise (docs/BENCHMARKS.md), longer targets gain more.
        for proj_t in proj.unbind(0):
            output, hidden, context, _ = self._attention_step(proj_t, hidden, encoded)
            states.append(output)
            contexts.append(context)
        return torch.stack(states), torch.stack(contexts)

    def _attention_step(self, proj: Tensor, hidden: Tensor, encoded: EncoderState):
        """One attention-decoder step. proj (B, 3H) first layer's input projection, hidden (L, B, H)
        -> output (B, H), hidden (L, B, H), context (B, D·H), attention weights (S, B)."""
        context, weights = self.attention(hidden[-1], encoded.keys, encoded.memory, encoded.src_mask)
        output, hidden = self.decoder.step(None, hidden, self.context_gates(context),  # C c_t
                                           input_proj=proj)
        return output, hidden, context, weights

    def _logits(self, states: Tensor, embedded: Tensor, readout_bias: Tensor) -> Tensor:
        """states (..., H), embedded (..., E), readout_bias broadcastable to (..., 2M) -> logits (..., V)."""
        pre = self.readout_state(states) + self.readout_embedding(embedded) + readout_bias
        maxout = pre.unflatten(-1, (self.config.maxout_size, 2)).amax(-1)  # max over pairs
        maxout = F.dropout(maxout, self.config.dropout_readout, self.training)
        if self.output_factor is not None:
            maxout = self.output_factor(maxout)
        return self.output(maxout)

    def decode_step(self, prev_tokens: Tensor, hidden: Tensor,
                    encoded: EncoderState) -> tuple[Tensor, Tensor, Tensor | None]:
        """One decoding step for search.

        Args:
            prev_tokens: (N,) y_{t-1} (BOS at the first step).  hidden: (L, N, H).
            encoded: the EncoderState of these N rows (expanded to beams as needed).

        Returns:
            logits (N, V) of y_t, the new hidden (L, N, H), and the attention weights
            (N, S) over the source positions (None without attention).
        """
        embedded = self.tgt_embedding(prev_tokens)  # (N, E)
        if self.attention is None:
            state, hidden = self.decoder.step(embedded, hidden, encoded.gate_bias)
            return self._logits(state, embedded, encoded.readout_bias), hidden, None
        proj = self.decoder.input_projection(embedded)
        state, hidden, context, weights = self._attention_step(proj, hidden, encoded)
        return self._logits(state, embedded, self.readout_context(context)), hidden, weights.t()
