"""Tests for seq2seq.tokenizer on a small generated corpus (diacritics, CJK, numbers)."""

from __future__ import annotations

import io
import pickle
import random

import pytest
import sentencepiece as spm
import torch

from seq2seq.tokenizer import SubwordTokenizer, TokenizerPair
from seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

SENTENCE = "Größe: 3,5 km – «Café» naïve 東京タワー 1999!"
FULL_WIDTH = "你好，世界！東京（日本）"  # ordinary CJK punctuation that NFKC would fold to ASCII

GERMAN = ["Größe", "Straße", "Mädchen", "läuft", "über", "schön", "Hund", "Katze", "spielt",
          "Café", "naïve", "Fußball", "Bäume", "Köln", "müde", "Ärger", "Öl"]
FRENCH = ["déjà", "où", "été", "façon", "garçon", "Noël", "cœur", "crème", "brûlée", "élève"]
JAPANESE = ["東京タワー", "東京", "大阪", "日本", "タワー", "駅", "電車", "あります", "ですか"]
CHINESE = ["你好，世界！", "（日本）", "我们", "学生。"]
PUNCT = [":", "–", "«", "»", "!", "?", ",", ".", "3,5", "km", "1999", "2024", "42", "0,75"]


def make_sentences(words: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(count)]


SOURCE = make_sentences(GERMAN + FRENCH + PUNCT, 300, seed=1)
TARGET = make_sentences(GERMAN + JAPANESE + CHINESE + PUNCT, 300, seed=2) + [SENTENCE, FULL_WIDTH]
JOINT_VOCAB, SIDE_VOCAB = 140, 100  # the data allows 152 joint, 108 on the source side
WORDY = "Größe Straße Mädchen läuft über Fußball 1999!"  # room for several segmentations


@pytest.fixture(scope="module")
def joint() -> TokenizerPair:
    return TokenizerPair.train(SOURCE, TARGET, joint=True, vocab_size=JOINT_VOCAB)


@pytest.fixture(scope="module")
def separate() -> TokenizerPair:
    return TokenizerPair.train(SOURCE, TARGET, joint=False, vocab_size=SIDE_VOCAB)


@pytest.fixture(scope="module")
def bpe() -> SubwordTokenizer:
    return SubwordTokenizer.train(SOURCE + TARGET, model_type="bpe", vocab_size=JOINT_VOCAB)


def test_special_ids_are_fixed(joint):
    tokenizer = joint.source
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert [tokenizer.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert tokenizer.piece_to_id("</s>") == EOS_ID
    assert tokenizer.piece_to_id("no such piece") == UNK_ID
    assert tokenizer.vocab_size == JOINT_VOCAB
    assert not {PAD_ID, UNK_ID, BOS_ID, EOS_ID} & set(tokenizer.encode(SENTENCE))


@pytest.mark.parametrize("model", ["unigram", "bpe"])
def test_round_trip_is_exact(joint, bpe, model):
    tokenizer = joint.source if model == "unigram" else bpe
    for text in [SENTENCE, FULL_WIDTH, *SOURCE, *TARGET]:
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_canonically_equivalent_spellings_encode_alike(joint):
    composed, decomposed = "Café naïve", "Cafe\u0301 nai\u0308ve"
    tokenizer = joint.source
    assert tokenizer.encode(decomposed) == tokenizer.encode(composed)
    assert tokenizer.decode(tokenizer.encode(decomposed)) == composed


def test_bytes_round_trip_gives_identical_encodings(joint, tmp_path):
    tokenizer = joint.source
    copies = [SubwordTokenizer.from_bytes(tokenizer.to_bytes()),
              pickle.loads(pickle.dumps(tokenizer))]
    tokenizer.save(tmp_path / "spm.model")
    copies.append(SubwordTokenizer.load(tmp_path / "spm.model"))
    for copy in copies:
        assert copy.to_bytes() == tokenizer.to_bytes()
        assert copy.encode_batch(TARGET) == tokenizer.encode_batch(TARGET)


def test_saved_model_is_a_plain_sentencepiece_model(joint, tmp_path):
    joint.source.save(tmp_path / "spm.model")
    processor = spm.SentencePieceProcessor(model_file=str(tmp_path / "spm.model"))
    assert processor.encode(SENTENCE) == joint.source.encode(SENTENCE)


def test_training_is_deterministic_and_the_seed_decides_the_sample():
    def train(seed):
        return SubwordTokenizer.train(SOURCE + TARGET, vocab_size=120, seed=seed,
                                      input_sentence_size=60).to_bytes()

    assert train(seed=0) == train(seed=0)
    assert train(seed=0) != train(seed=1)


def test_encode_batch_matches_encode(joint):
    tokenizer = joint.target
    assert tokenizer.encode_batch(TARGET[:20]) == [tokenizer.encode(t) for t in TARGET[:20]]


def test_joint_vocabulary_is_one_model_for_both_sides(joint):
    assert joint.joint and joint.source is joint.target
    state = joint.to_dict()
    assert state["joint"] is True and state["target"] is None
    restored = TokenizerPair.from_dict(state)
    assert restored.joint and restored.source is restored.target
    assert restored.source.encode("東京タワー") == joint.source.encode("東京タワー")
    assert UNK_ID not in joint.source.encode("東京タワー")


def test_separate_vocabularies_follow_their_own_side(separate):
    assert not separate.joint
    assert separate.source.to_bytes() != separate.target.to_bytes()
    assert UNK_ID in separate.source.encode("東京タワー")  # never seen on the source side
    assert UNK_ID not in separate.target.encode("東京タワー")
    restored = TokenizerPair.from_dict(separate.to_dict())
    assert not restored.joint
    assert restored.target.to_bytes() == separate.target.to_bytes()


def test_tokenizer_state_survives_a_weights_only_checkpoint(separate):
    buffer = io.BytesIO()
    torch.save(separate.to_dict(), buffer)
    buffer.seek(0)
    restored = TokenizerPair.from_dict(torch.load(buffer, weights_only=True))
    assert restored.source.encode(SENTENCE) == separate.source.encode(SENTENCE)


@pytest.mark.parametrize("model", ["unigram", "bpe"])
def test_sampling_varies_segmentation_but_not_text(joint, bpe, model):
    tokenizer = joint.target if model == "unigram" else bpe
    alpha = 0.1 if model == "unigram" else 0.3
    # the unigram model's likeliest segmentation has p ~ 0.92: 300 draws all alike ~ 1e-11
    samples = [tokenizer.encode(WORDY, sample=True, alpha=alpha) for _ in range(300)]
    assert len({tuple(ids) for ids in samples}) > 1
    assert all(tokenizer.decode(ids) == WORDY for ids in samples)
    assert {tuple(tokenizer.encode(WORDY)) for _ in range(5)} == {tuple(tokenizer.encode(WORDY))}
    batch = tokenizer.encode_batch([WORDY] * 300, sample=True, alpha=alpha)
    assert len({tuple(ids) for ids in batch}) > 1


def test_char_model_ignores_sampling():
    tokenizer = SubwordTokenizer.train(TARGET, model_type="char")
    assert tokenizer.encode(SENTENCE, sample=True) == tokenizer.encode(SENTENCE)
    assert tokenizer.decode(tokenizer.encode(SENTENCE)) == SENTENCE


def test_decode_skips_pad_and_bos_and_stops_at_eos(joint):
    tokenizer = joint.target
    ids = tokenizer.encode(SENTENCE)
    other = tokenizer.encode("Hund")
    assert tokenizer.decode([BOS_ID, *ids, EOS_ID, *other, PAD_ID]) == SENTENCE
    assert tokenizer.decode([BOS_ID, *ids, PAD_ID, PAD_ID]) == SENTENCE
    assert tokenizer.decode(torch.tensor([BOS_ID, *ids, EOS_ID, EOS_ID])) == SENTENCE
    assert tokenizer.decode([EOS_ID, *ids]) == ""
    assert [tokenizer.decode(x) for x in ([*ids, EOS_ID], other)] == [SENTENCE, "Hund"]


def test_vocabulary_too_large_says_what_to_set():
    with pytest.raises(ValueError, match=r"vocab_size=100000 is too large.*--data\.vocab_size \d+"):
        SubwordTokenizer.train(SOURCE, vocab_size=100_000)
    smaller = SubwordTokenizer.train(SOURCE, vocab_size=100_000, hard_vocab_limit=False)
    assert 4 < smaller.vocab_size < 100_000


def test_vocabulary_too_small_for_the_characters():
    with pytest.raises(ValueError, match=r"vocab_size=10 is too small.*at least \d+"):
        SubwordTokenizer.train(TARGET, vocab_size=10)


def test_bad_training_arguments():
    with pytest.raises(ValueError, match="model_type"):
        SubwordTokenizer.train(SOURCE, model_type="wordpiece")
    with pytest.raises(ValueError, match="no non-empty sentences"):
        SubwordTokenizer.train(["", "  "])


def test_models_with_other_special_ids_are_refused():
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SOURCE), model_writer=model,
                                   vocab_size=100, minloglevel=2)  # unk 0, bos 1, eos 2
    with pytest.raises(ValueError, match="pad/unk/bos/eos ids"):
        SubwordTokenizer.from_bytes(model.getvalue())
