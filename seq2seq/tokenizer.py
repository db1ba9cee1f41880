"""Subword models with sentencepiece: train in memory, encode, decode, serialise to bytes.

Text normalization: Unicode NFC in Python, then sentencepiece's ``identity`` rule.
    The toolkit's promise is that ``decode(encode(text)) == text`` for ordinary text, so
    that detokenized output can be scored against references as it stands. sentencepiece's
    default rule, ``nmt_nfkc``, keeps that promise for European text (accents, umlauts,
    «», –, "3,5") but breaks it elsewhere, because NFKC folds compatibility characters:
    full-width forms become ASCII (``，！？：（）`` in ordinary Chinese and Japanese text
    become ``,!?:()``, ``ＡＢＣ１２３`` becomes ``ABC123``), half-width katakana become
    full-width, ``…`` becomes ``...``, ligatures, fractions, superscripts, ``™``, ``℃`` and
    Roman numerals are spelled out (``ﬁ`` -> ``fi``, ``½`` -> ``1⁄2``, ``x²`` -> ``x2``), and
    no-break, ideographic and zero-width spaces and tabs become plain spaces. NFC only
    merges canonically equivalent spellings (``e`` + combining acute = ``é``), which look
    and mean the same, so a model never learns two spellings of one word; NFC text
    (nearly all text) round-trips exactly.

    What still does not round-trip: runs of spaces collapse to one and leading/trailing
    spaces vanish (sentencepiece's ``remove_extra_whitespaces``; the data module strips
    lines anyway), decomposed (NFD) input comes back composed, and a character never seen
    in training becomes ``<unk>`` (decoded as `` ⁇ ``) unless ``byte_fallback=True``.
    ``normalization="nmt_nfkc"`` is available for corpora that want the folding.

Special ids are :mod:`seq2seq.vocab`'s (PAD 0, UNK 1, BOS 2, EOS 3). ``encode`` adds no
BOS/EOS; batching does. ``decode`` drops PAD and BOS and stops at the first EOS.
"""

from __future__ import annotations

import io
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path

import sentencepiece as spm

from seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIAL_IDS, UNK_ID

MODEL_TYPES = ("unigram", "bpe", "char", "word")

_TOO_LARGE = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_SMALL = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


class SubwordTokenizer:
    """One sentencepiece model. Serialises to bytes so a checkpoint can carry it."""

    def __init__(self, model_proto: bytes):
        """Wrap a serialised sentencepiece model (use :meth:`train`, :meth:`from_bytes`)."""
        self._model_proto = bytes(model_proto)
        self._processor = spm.SentencePieceProcessor(model_proto=self._model_proto)
        self._check_special_ids()
        self._can_sample = self._sampling_available()

    # ---- making one ----------------------------------------------------------------------

    @classmethod
    def train(cls, sentences: Iterable[str], *, vocab_size: int = 8000,
              model_type: str = "unigram", character_coverage: float = 1.0,
              input_sentence_size: int = 1_000_000, seed: int = 0,
              hard_vocab_limit: bool = True, normalization: str = "identity",
              byte_fallback: bool = False, num_threads: int = 2) -> SubwordTokenizer:
        """Train a model in memory on ``sentences`` (one sentence per string).

        Args:
            vocab_size: pieces in the model, special ids included. With
                ``hard_vocab_limit`` (the default) a size the data cannot fill is an
                error naming the largest size that works; without it sentencepiece may
                make fewer pieces. ``char`` models have one piece per character and
                ignore it.
            model_type: one of ``unigram``, ``bpe``, ``char``, ``word``.
            character_coverage: share of characters the vocabulary must cover; 1.0
                keeps every character (right for most languages, CJK included).
            input_sentence_size: train on a uniform random sample of this many
                non-empty sentences when there are more (0: all of them). The sample is
                drawn here, from ``seed``, so the seed decides it.
            seed: makes training deterministic: same sentences and seed, same model.
                It also seeds sentencepiece's process-wide random generator, which
                ``encode(..., sample=True)`` draws from.
            normalization: sentencepiece normalization rule (see the module docstring).
            byte_fallback: spell unseen characters as UTF-8 byte pieces instead of
                ``<unk>`` (costs 256 pieces of the vocabulary).
            num_threads: sentencepiece training threads.

        Raises:
            ValueError: bad arguments, no training text, or a vocabulary size that
                does not fit the data (with the size to use instead).
        """
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {', '.join(MODEL_TYPES)}; "
                             f"got {model_type!r}")
        sample = _sample_sentences(sentences, input_sentence_size, seed)
        if not sample:
            raise ValueError("no non-empty sentences to train a tokenizer on")
        options = {
            "vocab_size": vocab_size, "model_type": model_type,
            "character_coverage": character_coverage, "hard_vocab_limit": hard_vocab_limit,
            "normalization_rule_name": normalization, "byte_fallback": byte_fallback,
            "pad_id": PAD_ID, "unk_id": UNK_ID, "bos_id": BOS_ID, "eos_id": EOS_ID,
            "input_sentence_size": 0,  # the sample is drawn here, from the seed
            "num_threads": num_threads, "minloglevel": 1,  # warnings and errors only
        }
        spm.set_random_generator_seed(seed)
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(sentence_iterator=iter(sample), model_writer=model,
                                           **options)
        except RuntimeError as exc:
            raise _explain_training_error(exc, vocab_size) from exc
        return cls(model.getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> SubwordTokenizer:
        return cls(data)

    def to_bytes(self) -> bytes:
        """The serialised sentencepiece model (what ``spm_train`` writes to ``.model``)."""
        return self._model_proto

    @classmethod
    def load(cls, path: str | Path) -> SubwordTokenizer:
        return cls(Path(path).read_bytes())

    def save(self, path: str | Path) -> None:
        """Write the model; the file is a standard sentencepiece ``.model`` file."""
        Path(path).write_bytes(self._model_proto)

    def __reduce__(self):
        return type(self), (self._model_proto,)

    # ---- using one -----------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self._processor.get_piece_size()

    def encode(self, text: str, sample: bool = False, alpha: float = 0.1,
               nbest_size: int = -1) -> list[int]:
        """Piece ids of ``text``, without BOS/EOS.

        ``sample=True`` draws a segmentation at random (subword regularisation): unigram
        models sample from ``nbest_size`` best segmentations (-1: all) smoothed by
        ``alpha``; BPE models drop merges with probability ``alpha`` (BPE-dropout).
        ``char`` and ``word`` models have one segmentation only and ignore ``sample``.
        """
        return self._processor.encode(_nfc(text), out_type=int,
                                      enable_sampling=sample and self._can_sample,
                                      alpha=alpha, nbest_size=nbest_size)

    def encode_batch(self, texts: Sequence[str], sample: bool = False, alpha: float = 0.1,
                     nbest_size: int = -1) -> list[list[int]]:
        """:meth:`encode` for many texts at once (sentencepiece encodes them in parallel)."""
        return self._processor.encode([_nfc(text) for text in texts], out_type=int,
                                      enable_sampling=sample and self._can_sample,
                                      alpha=alpha, nbest_size=nbest_size)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``: PAD and BOS are skipped and decoding stops at the first EOS.

        Accepts any sequence of integers (a list, a 1-d tensor).
        """
        kept = []
        for piece_id in map(int, ids):
            if piece_id == EOS_ID:
                break
            if piece_id not in (PAD_ID, BOS_ID):
                kept.append(piece_id)
        return self._processor.decode(kept)

    def id_to_piece(self, piece_id: int) -> str:
        return self._processor.id_to_piece(int(piece_id))

    def piece_to_id(self, piece: str) -> int:
        """The id of ``piece``; :data:`UNK_ID` for a piece not in the vocabulary."""
        return self._processor.piece_to_id(piece)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"

    def _check_special_ids(self) -> None:
        processor = self._processor
        found = (processor.pad_id(), processor.unk_id(), processor.bos_id(), processor.eos_id())
        if found != SPECIAL_IDS:
            raise ValueError(f"sentencepiece model has pad/unk/bos/eos ids {found}; the toolkit "
                             f"needs {SPECIAL_IDS}")

    def _sampling_available(self) -> bool:
        """Whether the model can sample segmentations (unigram and BPE can; char, word not)."""
        try:
            self._processor.encode("a", enable_sampling=True, alpha=0.1, nbest_size=-1)
        except RuntimeError:
            return False
        return True


class TokenizerPair:
    """Source and target tokenizers; the same object twice for a joint vocabulary."""

    def __init__(self, source: SubwordTokenizer, target: SubwordTokenizer | None = None):
        """``target=None`` (or ``target is source``) means one joint model."""
        self.source = source
        self.target = source if target is None else target

    @property
    def joint(self) -> bool:
        return self.target is self.source

    @classmethod
    def train(cls, src_sentences: Iterable[str], tgt_sentences: Iterable[str], *, joint: bool,
              **train_kwargs) -> TokenizerPair:
        """Train one model on both sides (``joint``) or one per side.

        ``train_kwargs`` go to :meth:`SubwordTokenizer.train`; for a joint model,
        ``input_sentence_size`` counts the sentences of both sides together.
        """
        if joint:
            return cls(SubwordTokenizer.train(chain(src_sentences, tgt_sentences),
                                              **train_kwargs))
        return cls(SubwordTokenizer.train(src_sentences, **train_kwargs),
                   SubwordTokenizer.train(tgt_sentences, **train_kwargs))

    def to_dict(self) -> dict:
        """``{"source": bytes, "target": bytes | None, "joint": bool}`` for a checkpoint."""
        return {"source": self.source.to_bytes(),
                "target": None if self.joint else self.target.to_bytes(),
                "joint": self.joint}

    @classmethod
    def from_dict(cls, state: dict) -> TokenizerPair:
        source = SubwordTokenizer.from_bytes(state["source"])
        if state["joint"]:
            return cls(source)
        return cls(source, SubwordTokenizer.from_bytes(state["target"]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self.source}, target={self.target}, joint={self.joint})"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _sample_sentences(sentences: Iterable[str], size: int, seed: int) -> list[str]:
    """Up to ``size`` non-empty sentences (all if ``size <= 0``), NFC-normalised.

    With more sentences than ``size``, a uniform random sample (reservoir sampling, so
    the corpus is read once and never held whole in memory).
    """
    rng = random.Random(seed)
    sample: list[str] = []
    seen = 0
    for sentence in sentences:
        if not sentence or sentence.isspace():
            continue
        seen += 1
        if size <= 0 or len(sample) < size:
            sample.append(sentence)
        else:
            slot = int(rng.random() * seen)
            if slot < size:
                sample[slot] = sentence
    return [_nfc(sentence) for sentence in sample]


def _explain_training_error(exc: RuntimeError, vocab_size: int) -> Exception:
    """sentencepiece's vocabulary-size failures as a ValueError saying what to set."""
    message = str(exc)
    too_large = _TOO_LARGE.search(message)
    if too_large:
        largest = int(too_large.group(2))
        return ValueError(
            f"vocab_size={vocab_size} is too large for this training data: sentencepiece can "
            f"make at most {largest} pieces from it. Set a smaller vocabulary "
            f"(--data.vocab_size {largest} or less), or train with hard_vocab_limit=False "
            "to accept a smaller one.")
    too_small = _TOO_SMALL.search(message)
    if too_small:
        needed = int(too_small.group(2))
        return ValueError(
            f"vocab_size={vocab_size} is too small: the training data needs {needed} pieces "
            f"for its characters and the special ids alone. Set --data.vocab_size to at "
            f"least {needed}, or lower character_coverage.")
    return exc
