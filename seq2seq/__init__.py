"""seq2seq: a GRU RNN Encoder-Decoder translation toolkit after Cho et al. 2014."""

from seq2seq.translator import Translator as Translator

__version__ = "0.1.0"
