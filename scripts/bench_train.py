"""Training throughput (target tokens/s) of our model against its twin built on torch.nn.GRU.

The twin has the same embeddings, summary, readout and output layers; its encoder is
``nn.GRU`` over packed sequences and its decoder is ``nn.GRU`` reading [e(y_{t-1}); c]
(c concatenated to the input instead of entering the gates as a bias). With
``--attention`` both are the attention config's shape (bidirectional encoder, Bahdanau
attention, batches of 200 sentences ~ 4,096 tokens): the twin's decoder is an
``nn.GRUCell`` reading [e(y_{t-1}); c_t] step by step, with the same attention module. Both
train on the same batches (Multi30k-like lengths, random ids), interleaved step by step,
with Adam; the table shows the median target tokens/s.

    python scripts/bench_train.py                     # CPU, and CUDA when present
    python scripts/bench_train.py --devices cpu --steps 20
    python scripts/bench_train.py --devices cpu --attention
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.model import EncoderState, ModelConfig, Seq2Seq


class TorchGRUTwin(Seq2Seq):
    """The same model with torch.nn.GRU (cuDNN on GPUs) in the encoder and decoder."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c = config
        self.encoder = nn.GRU(c.embedding_size, c.hidden_size, c.num_layers,
                              bidirectional=c.bidirectional_encoder)
        memory_size = (2 if c.bidirectional_encoder else 1) * c.hidden_size
        if self.attention is None:
            self.decoder = nn.GRU(c.embedding_size + c.hidden_size, c.hidden_size, c.num_layers)
        else:
            self.decoder = nn.GRUCell(c.embedding_size + memory_size, c.hidden_size)

    def encode(self, src, src_lengths):
        embedded = self.src_embedding(src.t())
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), enforce_sorted=False)
        memory, h_n = self.encoder(packed)
        directions = 2 if self.config.bidirectional_encoder else 1
        summary = torch.tanh(self.summary(torch.cat(tuple(h_n[-directions:]), dim=1)))
        memory, _ = pad_packed_sequence(memory)  # (S, B, D·H)
        if self.attention is None:
            return EncoderState(summary=summary, readout_bias=self.readout_context(summary))
        src_mask = torch.arange(memory.shape[0], device=src.device).unsqueeze(1) < \
            src_lengths.to(src.device)
        return EncoderState(summary=summary, memory=memory, keys=self.attention.keys(memory),
                            src_mask=src_mask)

    def forward(self, src, src_lengths, tgt_in, tgt_out=None, label_smoothing=0.0):
        encoded = self.encode(src, src_lengths)
        embedded = self.tgt_embedding(tgt_in.t())
        steps = embedded.shape[0]
        if self.attention is None:
            context = encoded.summary.unsqueeze(0).expand(steps, -1, -1)
            states, _ = self.decoder(torch.cat([embedded, context], dim=2),
                                     self.initial_hidden(encoded))
            logits = self._logits(states, embedded, encoded.readout_bias)
        else:
            hidden, states, contexts = self.initial_hidden(encoded)[0], [], []
            for t in range(steps):
                context, _ = self.attention(hidden, encoded.keys, encoded.memory, encoded.src_mask)
                hidden = self.decoder(torch.cat([embedded[t], context], dim=1), hidden)
                states.append(hidden)
                contexts.append(context)
            logits = self._logits(torch.stack(states), embedded,
                                  self.readout_context(torch.stack(contexts)))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.t().reshape(-1),
                               ignore_index=0)
        return logits.transpose(0, 1), loss


def make_batches(count, batch, vocab, device, seed=0):
    """Batches with Multi30k-like subword lengths (source ~ 12-20, target ~ 11-19 tokens)."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        src_lengths = torch.randint(8, 24, (batch,), generator=gen)
        tgt_lengths = (src_lengths + torch.randint(-3, 3, (batch,), generator=gen)).clamp(min=4)
        src = torch.randint(4, vocab, (batch, int(src_lengths.max())), generator=gen)
        tgt = torch.randint(4, vocab, (batch, int(tgt_lengths.max())), generator=gen)
        steps = torch.arange(src.shape[1])
        src[steps.unsqueeze(0) >= src_lengths.unsqueeze(1)] = 0
        tgt[torch.arange(tgt.shape[1]).unsqueeze(0) >= tgt_lengths.unsqueeze(1)] = 0
        tgt_in = torch.cat([torch.full((batch, 1), 2), tgt[:, :-1]], dim=1)
        batches.append(tuple(t.to(device) for t in (src, src_lengths, tgt_in, tgt)))
    return batches


def train_step(model, optimizer, batch, device, bf16: bool = False) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    # bf16: as Lightning's precision "bf16-mixed" (autocast forward, fp32 weights)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        _, loss = model(*batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def bench(device, args):
    config = ModelConfig(src_vocab_size=args.vocab, tgt_vocab_size=args.vocab, embedding_size=256,
                         hidden_size=args.hidden, maxout_size=256, init="pytorch",
                         bidirectional_encoder=args.bidirectional or args.attention,
                         attention="bahdanau" if args.attention else "none")
    torch.manual_seed(0)
    models = {"ours": Seq2Seq(config).to(device), "nn.GRU twin": TorchGRUTwin(config).to(device)}
    if args.bf16:
        torch.manual_seed(0)
        models.update({"ours bf16": Seq2Seq(config).to(device),
                       "nn.GRU twin bf16": TorchGRUTwin(config).to(device)})
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    batches = make_batches(args.steps + args.warmup, args.batch, args.vocab, device)
    times = {name: [] for name in models}
    for i, batch in enumerate(batches):
        for name, model in models.items():
            elapsed = train_step(model, optimizers[name], batch, device, name.endswith("bf16"))
            if i >= args.warmup:
                times[name].append(elapsed / int((batch[3] != 0).sum()))
    return {name: 1.0 / statistics.median(values) for name, values in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=None,
                        help="sentences per batch (default 128; 200 with --attention)")
    parser.add_argument("--attention", action="store_true",
                        help="the attention config (configs/multi30k_de_en_attention.yaml)")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bf16", action="store_true",
                        help="also both models under bf16 autocast (precision bf16-mixed)")
    args = parser.parse_args(argv)
    args.batch = args.batch or (200 if args.attention else 128)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {args.batch}, "
          f"hidden {args.hidden}, vocab {args.vocab}, "
          f"{'attention, ' if args.attention else ''}median of {args.steps} steps")
    bf16_header = (" ours bf16 tgt tok/s | twin bf16 tgt tok/s | ours bf16 / ours |"
                   if args.bf16 else "")
    print(f"| device | ours tgt tok/s | nn.GRU twin tgt tok/s | ours / twin |{bf16_header}")
    print("| --- " * (7 if args.bf16 else 4) + "|")
    for name in devices:
        rates = bench(torch.device(name), args)
        bf16_cells = (f" {rates['ours bf16']:.0f} | {rates['nn.GRU twin bf16']:.0f} | "
                      f"{rates['ours bf16'] / rates['ours']:.2f} |" if args.bf16 else "")
        print(f"| {name} | {rates['ours']:.0f} | {rates['nn.GRU twin']:.0f} | "
              f"{rates['ours'] / rates['nn.GRU twin']:.2f} |{bf16_cells}", flush=True)


if __name__ == "__main__":
    main()
