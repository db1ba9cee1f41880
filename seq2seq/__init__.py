"""seq2seq: a GRU RNN Encoder-Decoder translation toolkit after Cho et al. 2014.

``from seq2seq import Translator`` loads the translator (and sentencepiece) on first use
only, so that ``import seq2seq.gru`` stays light.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Translator":
        from seq2seq.translator import Translator

        return Translator
    raise AttributeError(f"module 'seq2seq' has no attribute {name!r}")
