"""Export and share: a checkpoint as a self-contained model folder, and the ways to run it.

    onnx_graphs   the model as two ONNX graphs (encoder, one decoder step), int8 quantization
    onnx_backend  OnnxSteps: those graphs on onnxruntime as a StepDecoder for our search
    folder        write, read and check a model folder (safetensors, graphs, sentencepiece)
    card          its model card (README.md)
    hub           fetch from and publish to the Hugging Face hub
    cli           ``seq2seq-export``

``Translator.from_pretrained`` and ``seq2seq-translate --checkpoint DIR|hf://org/name``
load folders through :mod:`.folder`.
"""
