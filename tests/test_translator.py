import copy
import itertools
import random
import re

import pytest
import torch

from seq2seq.batching import pad_sequences
from seq2seq.checkpoint import (
    CheckpointError,
    prefixed_state_dict,
    save_checkpoint,
    translation_payload,
)
from seq2seq.data import DataError
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.search import SearchOptions, beam_search, force_decode
from seq2seq.tokenizer import TokenizerPair
from seq2seq.translator import Translator
from seq2seq.vocab import BOS_ID, EOS_ID

WORDS = ["the", "a", "dog", "cat", "bird", "fish", "horse", "sees", "likes", "runs", "sleeps",
         "eats", "finds", "big", "small", "red", "green", "blue", "old", "young", "house",
         "tree", "river", "garden", "under", "near"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(count)]


@pytest.fixture(scope="module")
def copy_translator() -> Translator:
    """A small attention model trained for 2-3 s to copy its input."""
    torch.manual_seed(0)
    sentences = random_sentences(400, seed=0)
    tokenizers = TokenizerPair.train(sentences, sentences, joint=True, vocab_size=80,
                                     hard_vocab_limit=False)
    vocab_size = tokenizers.source.vocab_size
    model = Seq2Seq(ModelConfig(src_vocab_size=vocab_size, tgt_vocab_size=vocab_size,
                                embedding_size=32, hidden_size=64, maxout_size=32,
                                attention="bahdanau", init="pytorch"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    encoded = [tokenizers.source.encode(sentence) for sentence in sentences]
    rng = random.Random(0)
    for _ in range(200):
        batch = rng.sample(encoded, 32)
        src, src_lengths = pad_sequences(batch)
        tgt_in, _ = pad_sequences([[BOS_ID, *ids] for ids in batch])
        tgt_out, _ = pad_sequences([[*ids, EOS_ID] for ids in batch])
        _, loss = model(src, src_lengths, tgt_in, tgt_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return Translator(model.double(), tokenizers)


def test_trained_model_translates_its_task(copy_translator):
    sentences = random_sentences(40, seed=1)
    translations = copy_translator.translate(sentences, beam_size=4)
    assert sum(t == s for t, s in zip(translations, sentences)) >= 20  # untrained: 0


def test_one_output_per_input_line_in_order_and_empty_lines_stay_empty(copy_translator):
    lines = ["the dog runs", "", "   ", "a small red bird", "\t", "fish"]
    translations = copy_translator.translate(lines, beam_size=3)
    assert len(translations) == len(lines)
    assert [translations[i] for i in (1, 2, 4)] == ["", "", ""]
    alone = [copy_translator.translate([line], beam_size=3)[0] for line in lines]
    assert translations == alone


def assert_same_nbest(found, expected):
    assert [[text for text, _ in nbest] for nbest in found] == \
        [[text for text, _ in nbest] for nbest in expected]
    assert [score for nbest in found for _, score in nbest] == \
        pytest.approx([score for nbest in expected for _, score in nbest])


def test_results_do_not_depend_on_chunks_batches_or_order(copy_translator):
    lines = random_sentences(23, seed=2)
    reference = copy_translator.translate(lines, beam_size=3, nbest=2)
    small = Translator(copy_translator.model, copy_translator.tokenizers, chunk_size=4)
    assert_same_nbest(small.translate(lines, beam_size=3, nbest=2, max_tokens=20), reference)
    order = random.Random(3).sample(range(len(lines)), len(lines))
    shuffled = copy_translator.translate([lines[i] for i in order], beam_size=3, nbest=2)
    assert_same_nbest(shuffled, [reference[i] for i in order])


def test_overlong_lines_are_truncated_with_a_warning(copy_translator, capsys):
    lines = ["the dog", "the big dog sees a small cat under the old tree", "a cat"]
    long_ids = copy_translator.tokenizers.source.encode(lines[1])
    assert len(long_ids) > 5
    translations = copy_translator.translate(lines, beam_size=2, max_src_tokens=5)
    assert len(translations) == 3
    warning = capsys.readouterr().err
    assert "line 2" in warning and "line 1" not in warning and "line 3" not in warning
    truncated = copy_translator.tokenizers.source.decode(long_ids[:5])
    assert translations[1] == copy_translator.translate([truncated], beam_size=2)[0]
    streamed = list(copy_translator.translate_stream(lines, beam_size=2, max_src_tokens=5))
    assert [t.truncated_from for t in streamed] == [None, len(long_ids), None]
    assert [t.text for t in streamed] == translations


def test_nbest_gives_sorted_distinct_text_and_score_pairs(copy_translator):
    found = copy_translator.translate(["the dog runs", "", "a cat"], beam_size=4, nbest=3)
    assert found[1] == []
    for nbest in (found[0], found[2]):
        assert len(nbest) == 3
        scores = [score for _, score in nbest]
        assert scores == sorted(scores, reverse=True)
        assert len({text for text, _ in nbest}) == 3
    assert found[0][0][0] == copy_translator.translate(["the dog runs"], beam_size=4)[0]


def test_translations_match_the_search_on_tokenized_input(copy_translator):
    lines = ["the dog runs", "a small red bird"]
    ids = [copy_translator.tokenizers.source.encode(line) for line in lines]
    src, src_lengths = pad_sequences(ids)
    found = beam_search(copy_translator.model, src, src_lengths, beam_size=3, alpha=0.5)
    stream = list(copy_translator.translate_stream(lines, beam_size=3, alpha=0.5))
    assert [t.text for t in stream] == [copy_translator.tokenizers.target.decode(h[0].tokens)
                                        for h in found]
    assert [t.score for t in stream] == pytest.approx([h[0].score for h in found])
    assert [t.source for t in stream] == lines


def test_stream_is_lazy_and_stops_after_translating_what_came_before_an_error(copy_translator):
    streaming = Translator(copy_translator.model, copy_translator.tokenizers, chunk_size=3)
    endless = itertools.cycle(["the dog", "a cat"])
    first = list(itertools.islice(streaming.translate_stream(endless, beam_size=1), 5))
    assert len(first) == 5

    def broken_input():
        yield from ["the dog", "a cat", "fish", "the bird"]
        raise DataError("input.txt:5: invalid UTF-8")

    done = []
    with pytest.raises(DataError, match="input.txt:5"):
        for translation in streaming.translate_stream(broken_input(), beam_size=2):
            done.append(translation.source)
    assert done == ["the dog", "a cat", "fish", "the bird"]


def test_score_is_the_forced_decoding_log_probability(copy_translator):
    sources = ["the dog runs", "a cat", ""]
    targets = ["the dog runs", "a green cat", "fish"]
    results = copy_translator.score(sources, targets, max_tokens=8)
    tokenizers = copy_translator.tokenizers
    for source, target, result in zip(sources, targets, results):
        src, src_lengths = pad_sequences([tokenizers.source.encode(source)])
        tgt = tokenizers.target.encode(target)
        (total, count), = force_decode(copy_translator.model, src, src_lengths, [tgt])
        assert result.num_tokens == count == len(tgt) + 1
        assert result.total == pytest.approx(total)
        assert result.per_token == pytest.approx(total / count)
    assert results[0].per_token > results[1].per_token  # the copy is likelier than a change
    with pytest.raises(ValueError, match="2 sources but 1 targets"):
        copy_translator.score(sources[:2], targets[:1])


def test_from_checkpoint_translates_like_the_saved_model(copy_translator, tmp_path):
    model = copy.deepcopy(copy_translator.model).float()
    path = tmp_path / "model.ckpt"
    save_checkpoint(path, prefixed_state_dict(model),
                    translation_payload(model, copy_translator.tokenizers, "en", "de"))
    loaded = Translator.from_checkpoint(path, device="auto")
    lines = ["the dog runs", "a small red bird"]
    assert loaded.translate(lines) == Translator(model, copy_translator.tokenizers).translate(lines)
    with pytest.raises(CheckpointError, match="does not exist"):
        Translator.from_checkpoint(tmp_path / "missing.ckpt")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_from_checkpoint_in_half_precision_keeps_the_translations_and_float32_scores(
        copy_translator, tmp_path, dtype):
    model = copy.deepcopy(copy_translator.model).float()
    path = tmp_path / "model.ckpt"
    save_checkpoint(path, prefixed_state_dict(model),
                    translation_payload(model, copy_translator.tokenizers, "en", "de"))
    full = Translator.from_checkpoint(path)
    half = Translator.from_checkpoint(path, dtype=str(dtype).removeprefix("torch."))
    assert {p.dtype for p in half.model.parameters()} == {dtype}
    assert {p.dtype for p in full.model.parameters()} == {torch.float32}
    lines = random_sentences(20, seed=3)
    same = sum(a == b for a, b in zip(half.translate(lines, beam_size=3),
                                      full.translate(lines, beam_size=3)))
    assert same >= 16
    for a, b in zip(half.score(lines, lines), full.score(lines, lines)):
        # A sanity bound: bfloat16 keeps 8 significant bits, and its rounding differs between
        # CPUs (AMX on Intel, AVX-512 on AMD): differences up to 0.03 nats a token were seen.
        assert a.total == pytest.approx(b.total, rel=0.1, abs=0.02 * b.num_tokens)
        assert a.num_tokens == b.num_tokens

    # The half model's own logits, log-softmaxed in float32 by hand: what score() returns.
    ids = half.tokenizers.source.encode(lines[0])
    src, src_lengths = pad_sequences([ids])
    with torch.no_grad():
        logits, _ = half.model(src, src_lengths, torch.tensor([[BOS_ID, *ids]]))
    log_probs = torch.log_softmax(logits.float(), dim=-1)[0]
    expected = sum(float(log_probs[i, token]) for i, token in enumerate([*ids, EOS_ID]))
    (result,) = half.score(lines[:1], lines[:1])
    assert result.total == pytest.approx(expected, abs=1e-5)

    with pytest.raises(ValueError, match="dtype must be one of float32, bfloat16, float16"):
        Translator.from_checkpoint(path, dtype="float64")


def test_bad_options_are_rejected_before_translating(copy_translator):
    with pytest.raises(ValueError, match="nbest"):
        copy_translator.translate(["a"], beam_size=2, nbest=3)
    with pytest.raises(ValueError, match="max_tokens"):
        copy_translator.translate(["a"], max_tokens=0)

    def never_read():
        raise AssertionError("the input was read before the options were checked")
        yield

    bad_calls = {
        "alpha must be finite and >= 0, got nan": {"alpha": float("nan")},
        "min_length must be at most 11": {"min_length": 1000},
        "max_len_a must be finite and >= 0, got -5": {"max_len_a": -5, "max_len_b": -5},
        "max_src_tokens must be a positive integer, got 0": {"max_src_tokens": 0},
        "max_tokens must be a positive integer, got 2.5": {"max_tokens": 2.5},
    }
    for message, options in bad_calls.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            copy_translator.translate_stream(never_read(), **options)
    search = SearchOptions(beam_size=2)
    assert copy_translator.translate(["a b"], search, nbest=2)[0][0][0] == \
        copy_translator.translate(["a b"], beam_size=2, nbest=2)[0][0][0]
    for options in ({"chunk_size": 0}, {"max_src_tokens": -1}):
        with pytest.raises(ValueError, match=f"{next(iter(options))} must be a positive integer"):
            Translator(copy_translator.model, copy_translator.tokenizers, **options)
