"""A synthetic English->German parallel corpus: the toolkit's built-in demo data.

Sentences come from a small grammar and lexicon, drawn with a seeded ``random.Random``:
nothing is downloaded, and one seed always gives the same corpus (on every Python from
3.10 on). The corpus is small enough for a GRU encoder-decoder to learn in minutes on a
CPU, and rich enough that it must learn German grammar to do so. Every English sentence
has exactly one German translation; sentences have 4 to 14 English words (8.3 on
average, 7.6 German).

- :mod:`~seq2seq.demo.lexicon`: the words, in both languages, with their tags.
- :mod:`~seq2seq.demo.grammar`: morphology, noun phrases, clauses and sentences, and the
  list of German phenomena the corpus covers, with a pair for each.
- :mod:`~seq2seq.demo.sampling`: random sentences of the grammar; :func:`generate_pairs`.
- :mod:`~seq2seq.demo.corpus`: :func:`generate_corpus` makes train, validation and test
  splits, validation and test sentences being unique and absent from train;
  :func:`write_corpus` and the ``seq2seq-demo-corpus`` command (:func:`main`) write them
  as text files.
"""

from seq2seq.demo.corpus import (
    DEFAULT_SEED,
    DEFAULT_SIZES,
    SPLITS,
    generate_corpus,
    main,
    write_corpus,
)
from seq2seq.demo.sampling import generate_pairs

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_SIZES",
    "SPLITS",
    "generate_corpus",
    "generate_pairs",
    "main",
    "write_corpus",
]
