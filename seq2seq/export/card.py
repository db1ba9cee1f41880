"""The model card (README.md) of a model folder, written from its config.json."""

from __future__ import annotations

import json

from seq2seq.export.onnx_graphs import OPSET

UNKNOWN_DATA = ("Not recorded: the checkpoint does not say which corpus it was trained on "
                "(`seq2seq-export --data-description` records it).")

FILE_ROLES = {
    "model.safetensors": "weights (torch backend)",
    "source.model": "source sentencepiece model",
    "target.model": "target sentencepiece model",
    "encoder.onnx": "encoder graph, float32",
    "decoder_step.onnx": "one decoder step, float32",
    "encoder.int8.onnx": "encoder graph, int8 matrix products",
    "decoder_step.int8.onnx": "one decoder step, int8 matrix products",
}


def model_card(info: dict, reference: str) -> str:
    """Markdown for the folder described by ``info`` (its config.json), loaded as
    ``reference`` (a path or ``hf://org/name``) in the usage examples."""
    config, src, tgt = info["model_config"], info["src_lang"], info["tgt_lang"]
    kind = ("with the additive attention of Bahdanau et al. (2015)"
            if config["attention"] == "bahdanau" else "(one fixed summary vector c, no attention)")
    options = "\n".join(f"| `{name}` | {json.dumps(value)} |" for name, value in config.items())
    return f"""---
language:
- {src}
- {tgt}
tags:
- translation
- seq2seq
- gru
- onnx
pipeline_tag: translation
---

# {src}→{tgt} translation: GRU RNN Encoder–Decoder

Translates {src} into {tgt}: the RNN Encoder–Decoder of Cho et al. (2014) {kind},
trained with the seq2seq toolkit and exported with `seq2seq-export`.

## Training data

{info.get("training_data") or UNKNOWN_DATA}

## Model

| option | value |
| --- | --- |
{options}

## Scores

{_scores(info)}

## Use

{_usage(info, reference)}

## Files

| file | what | bytes |
| --- | --- | --- |
| config.json | options, languages, scores, the size and SHA-256 of each file | |
{_files(info)}
"""


def _scores(info: dict) -> str:
    metrics = info.get("metrics", {})
    if "val_bleu" in metrics:
        when = ", ".join(f"{key} {int(metrics[key])}" for key in ("epoch", "step") if key in metrics)
        text = (f"Validation BLEU {metrics['val_bleu']:.2f} (greedy search; sacreBLEU on "
                f"detokenized text, cased, 13a; as logged in training{', ' + when if when else ''}).")
    else:
        text = "Validation BLEU: not recorded in the checkpoint."
    tests = info.get("test_scores") or []
    if not tests:
        return text + ("\n\nTest BLEU: not measured at export (`seq2seq-export --test-source F "
                       "--test-reference F` measures it).")
    rows = "\n".join(f"| {t['test_set']} | {t['sentences']} | {t['backend']} {t['dtype']} | "
                     f"{t['beam_size']} | {t['bleu']:.2f} |" for t in tests)
    signatures = "\n".join(sorted({"BLEU|" + t["signature"] for t in tests}))
    return f"""{text}

| test set | sentences | backend | beam | test BLEU |
| --- | --- | --- | --- | --- |
{rows}

sacreBLEU signature:

```
{signatures}
```"""


def _usage(info: dict, reference: str) -> str:
    repo, src = reference.removeprefix("hf://"), info["src_lang"]
    int8 = ""
    if any(name.endswith(".int8.onnx") for name in info.get("files", {})):
        int8 = f"\nseq2seq-translate --checkpoint {reference} --backend onnxruntime --dtype int8 < input.{src}"
    return f"""With the seq2seq toolkit installed:

```bash
seq2seq-translate --checkpoint {reference} --beam-size 5 < input.{src}
seq2seq-translate --checkpoint {reference} --backend onnxruntime < input.{src}{int8}
```

```python
from seq2seq import Translator

translator = Translator.from_pretrained("{repo}")                          # torch
translator = Translator.from_pretrained("{repo}", backend="onnxruntime")   # no torch model
translator.translate(["..."], beam_size=5)
```

The ONNX graphs (opset {OPSET}) run without the toolkit too. `encoder.onnx` maps `src`
(batch, src_len) int64 ids (`source.model`'s pieces, no BOS/EOS, padded with 0) and
`src_lengths` (batch) to the decoder's initial `hidden` and its source inputs;
`decoder_step.onnx` maps `prev_tokens` (rows) (BOS = 2 at the first step), `hidden` and
those inputs to `log_probs` (rows, target vocabulary), `new_hidden` and, for attention
models, `attention` (rows, src_len). EOS is 3."""


def _files(info: dict) -> str:
    return "\n".join(f"| {name} | {FILE_ROLES.get(name, '')} | {digest['bytes']:,} |"
                     for name, digest in info.get("files", {}).items())
