"""seq2seq-serve: the dynamic batcher alone, then the real server (uvicorn on a free local
port) over HTTP, its command line, and the page in headless Chromium."""

import base64
import contextlib
import fcntl
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import torch
import uvicorn

from seq2seq import __version__
from seq2seq.batching import pad_sequences
from seq2seq.checkpoint import (
    CheckpointError,
    prefixed_state_dict,
    save_checkpoint,
    translation_payload,
)
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.search import SearchOptions
from seq2seq.serve import cli
from seq2seq.serve.app import ServeOptions, create_app, load_model
from seq2seq.serve.batcher import BatcherClosed, DynamicBatcher, QueueFull
from seq2seq.serve.model_process import (
    ModelProcess,
    ModelProcessDied,
    ModelSpec,
    close_all,
    start_replicas,
)
from seq2seq.tokenizer import TokenizerPair
from seq2seq.translator import Translator
from seq2seq.vocab import BOS_ID, EOS_ID

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# A toy English→German task, word for word, that a small attention model learns in seconds.
LEXICON = {"the": "der", "a": "ein", "dog": "Hund", "cat": "Kater", "bird": "Vogel",
           "fish": "Fisch", "horse": "Hengst", "sees": "sieht", "likes": "mag",
           "finds": "findet", "follows": "folgt", "big": "große", "small": "kleine",
           "red": "rote", "old": "alte", "young": "junge"}
NOUNS = ["dog", "cat", "bird", "fish", "horse"]
VERBS = ["sees", "likes", "finds", "follows"]
ADJECTIVES = ["big", "small", "red", "old", "young"]


def noun_phrase(rng: random.Random) -> list[str]:
    adjective = [rng.choice(ADJECTIVES)] if rng.random() < 0.5 else []
    return [rng.choice(["the", "a"]), *adjective, rng.choice(NOUNS)]


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join([*noun_phrase(rng), rng.choice(VERBS), *noun_phrase(rng)])
            for _ in range(count)]


def german(sentence: str) -> str:
    return " ".join(LEXICON[word] for word in sentence.split())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An attention model trained for a few seconds on the toy task (word vocabularies),
    saved with a validation BLEU."""
    torch.manual_seed(0)
    english = sentences(400, seed=0)
    targets = [german(sentence) for sentence in english]
    tokenizers = TokenizerPair.train(english, targets, joint=False, vocab_size=40,
                                     hard_vocab_limit=False, model_type="word")
    model = Seq2Seq(ModelConfig(src_vocab_size=tokenizers.source.vocab_size,
                                tgt_vocab_size=tokenizers.target.vocab_size,
                                embedding_size=32, hidden_size=64, maxout_size=32,
                                attention="bahdanau", init="pytorch"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    pairs = [(tokenizers.source.encode(s), tokenizers.target.encode(t))
             for s, t in zip(english, targets)]
    rng = random.Random(0)
    for _ in range(200):
        batch = rng.sample(pairs, 32)
        src, src_lengths = pad_sequences([s for s, _ in batch])
        tgt_in, _ = pad_sequences([[BOS_ID, *t] for _, t in batch])
        tgt_out, _ = pad_sequences([[*t, EOS_ID] for _, t in batch])
        _, loss = model(src, src_lengths, tgt_in, tgt_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path_factory.mktemp("model") / "toy.ckpt"
    save_checkpoint(path, prefixed_state_dict(model.eval()),
                    translation_payload(model, tokenizers, "en", "de",
                                        metrics={"val_bleu": 42.5, "epoch": 3}))
    return path


@pytest.fixture(scope="module")
def offline(checkpoint) -> Translator:
    """What seq2seq-translate uses: the same checkpoint, loaded by itself."""
    return Translator.from_checkpoint(checkpoint)


@pytest.fixture(scope="module")
def other_checkpoint(checkpoint, tmp_path_factory):
    """The toy model with its weights disturbed (same vocabularies), without metrics."""
    saved = torch.load(checkpoint, weights_only=True)
    generator = torch.Generator().manual_seed(1)
    for tensor in saved["state_dict"].values():
        if tensor.is_floating_point():
            tensor.add_(0.05 * torch.randn(tensor.shape, generator=generator))
    del saved["seq2seq"]["metrics"]
    path = tmp_path_factory.mktemp("other") / "other.ckpt"
    save_checkpoint(path, saved["state_dict"], saved["seq2seq"])
    return path


@pytest.fixture(scope="module")
def plain_checkpoint(checkpoint, tmp_path_factory):
    """A model without attention (untrained), on the toy model's tokenizers."""
    tokenizers = Translator.from_checkpoint(checkpoint).tokenizers
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(src_vocab_size=tokenizers.source.vocab_size,
                                tgt_vocab_size=tokenizers.target.vocab_size, embedding_size=8,
                                hidden_size=16, maxout_size=8, init="pytorch"))
    path = tmp_path_factory.mktemp("plain") / "plain.ckpt"
    save_checkpoint(path, prefixed_state_dict(model),
                    translation_payload(model, tokenizers, "en", "de"))
    return path


# ---- the dynamic batcher, without HTTP -----------------------------------------------------


class GatedTranslate:
    """A fake translate(lines, key) that records its calls and holds the first one until
    ``release`` (so that requests pile up meanwhile); it fails on the line "POISON"."""

    def __init__(self, translate=None):
        self.calls: list[tuple[list[str], object]] = []
        self.entered, self.released = threading.Event(), threading.Event()
        self.translate = translate or (lambda lines, key: [f"{line}/{key}" for line in lines])

    def __call__(self, lines, key):
        self.calls.append((list(lines), key))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.released.wait(30)
        if "POISON" in lines:
            raise RuntimeError("cannot translate POISON")
        return self.translate(lines, key)


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_batcher_gathers_waiting_requests_into_one_call_per_key():
    translate = GatedTranslate()
    batcher = DynamicBatcher(translate, max_wait_s=0, max_queue_lines=100)
    first = batcher.submit(["first"], key="k")
    assert translate.entered.wait(10)
    futures = [batcher.submit(["a1", "a2"], "A"), batcher.submit(["b1"], "B"),
               batcher.submit(["a3"], "A"), batcher.submit([], "B"), batcher.submit(["b2"], "B")]
    assert batcher.queued_lines == 5
    translate.released.set()
    results = [future.result(10) for future in futures]
    assert first.result(10) == ["first/k"]
    assert results == [["a1/A", "a2/A"], ["b1/B"], ["a3/A"], [], ["b2/B"]]
    assert translate.calls == [(["first"], "k"), (["a1", "a2", "a3"], "A"), (["b1", "b2"], "B")]
    assert (batcher.stats.calls, batcher.stats.requests, batcher.stats.lines) == (3, 6, 6)
    batcher.close()


def test_batcher_waits_for_more_requests_within_max_wait():
    translate = GatedTranslate()
    translate.released.set()
    batcher = DynamicBatcher(translate, max_wait_s=0.5)
    first = batcher.submit(["one"], "k")
    time.sleep(0.05)
    second = batcher.submit(["two"], "k")
    assert (first.result(10), second.result(10)) == (["one/k"], ["two/k"])
    assert translate.calls == [(["one", "two"], "k")]
    batcher.close()


def test_batcher_gathers_again_after_each_call_for_the_clients_it_answered():
    translate = GatedTranslate()
    batcher = DynamicBatcher(translate, max_wait_s=0.5)
    first = batcher.submit(["first"], "k")
    assert translate.entered.wait(10)
    waiting = batcher.submit(["waiting"], "k")
    time.sleep(0.6)  # longer than max_wait_s: the request has waited its time already
    translate.released.set()
    first.result(10)
    returning = batcher.submit(["returning"], "k")  # as a client answered by that call
    assert (waiting.result(10), returning.result(10)) == (["waiting/k"], ["returning/k"])
    assert translate.calls == [(["first"], "k"), (["waiting", "returning"], "k")]
    batcher.close()


def test_a_failing_request_does_not_fail_the_others_of_its_batch():
    translate = GatedTranslate()
    batcher = DynamicBatcher(translate, max_wait_s=0)
    batcher.submit(["first"], "k")
    assert translate.entered.wait(10)
    good1 = batcher.submit(["x"], "k")
    bad = batcher.submit(["y", "POISON"], "k")
    good2 = batcher.submit(["z"], "k")
    translate.released.set()
    assert good1.result(10) == ["x/k"] and good2.result(10) == ["z/k"]
    with pytest.raises(RuntimeError, match="cannot translate POISON"):
        bad.result(10)
    assert [lines for lines, _ in translate.calls] == [
        ["first"], ["x", "y", "POISON", "z"], ["x"], ["y", "POISON"], ["z"]]
    # A translator that miscounts fails its request too, and the batcher goes on.
    miscounting = DynamicBatcher(lambda lines, key: lines[1:], max_wait_s=0)
    with pytest.raises(RuntimeError, match="gave 1 results for 2 lines"):
        miscounting.submit(["a", "b"], "k").result(10)
    assert miscounting.submit([], "k").result(10) == []
    batcher.close()
    miscounting.close()


def test_a_burst_is_shared_among_the_free_workers():
    calls: dict[str, list[list[str]]] = {"a": [], "b": []}
    both_busy = threading.Barrier(2, timeout=10)

    def worker(name):
        def translate(lines, key):
            calls[name].append(list(lines))
            both_busy.wait()  # neither comes back for more before the other took its share
            return [f"{line}/{name}" for line in lines]
        return translate

    batcher = DynamicBatcher([worker("a"), worker("b")], max_wait_s=0.3)
    wait_until(lambda: batcher._free_workers == 2)
    futures = [batcher.submit([f"r{i}"], "k") for i in range(7)]
    results = [future.result(10)[0] for future in futures]
    # One worker took the first 4 (the ceiling of half), the other the last 3.
    assert sorted(map(len, calls["a"] + calls["b"])) == [3, 4]
    first = "a" if calls["a"][0][0] == "r0" else "b"
    second = "b" if first == "a" else "a"
    assert results == [f"r{i}/{first}" for i in range(4)] + [f"r{i}/{second}" for i in range(4, 7)]
    assert batcher.queued_lines == 0
    batcher.close(timeout=10)


def test_batcher_bounds_its_queue_and_fails_what_is_queued_at_close():
    translate = GatedTranslate()
    batcher = DynamicBatcher(translate, max_wait_s=0, max_queue_lines=3)
    running = batcher.submit(["running"], "k")
    assert translate.entered.wait(10)
    queued = batcher.submit(["a", "b"], "k")
    with pytest.raises(QueueFull, match="2 lines are waiting.*2 more would pass the limit of 3"):
        batcher.submit(["c", "d"], "k")
    cancelled = batcher.submit(["e"], "k")
    assert cancelled.cancel()
    threading.Timer(0.2, translate.released.set).start()
    batcher.close(timeout=10)
    assert running.result(10) == ["running/k"]  # the call in progress ends
    with pytest.raises(BatcherClosed):
        queued.result(10)
    assert translate.calls == [(["running"], "k")]
    with pytest.raises(BatcherClosed):
        batcher.submit(["late"], "k")


def test_batcher_skips_requests_cancelled_while_waiting():
    translate = GatedTranslate()
    batcher = DynamicBatcher(translate, max_wait_s=0)
    batcher.submit(["first"], "k")
    assert translate.entered.wait(10)
    gone = batcher.submit(["gone"], "k")
    kept = batcher.submit(["kept"], "k")
    assert gone.cancel()
    translate.released.set()
    assert kept.result(10) == ["kept/k"]
    assert translate.calls[1] == (["kept"], "k")
    batcher.close()


def test_several_workers_translate_side_by_side():
    released, entered = threading.Event(), threading.Event()
    calls: dict[str, list[list[str]]] = {"a": [], "b": []}

    def worker(name):
        def translate(lines, key):
            calls[name].append(list(lines))
            if "held" in lines:  # held until released, whichever worker takes it
                entered.set()
                assert released.wait(30)
            return [f"{line}/{name}" for line in lines]
        return translate

    batcher = DynamicBatcher([worker("a"), worker("b")], max_wait_s=0)
    assert batcher.workers == 2
    held = batcher.submit(["held"], "k")
    assert entered.wait(10)
    holder = "a" if calls["a"] else "b"
    other = "b" if holder == "a" else "a"
    # One worker is held in its call; the other answers what comes meanwhile.
    assert [batcher.submit([f"x{i}"], "k").result(10) for i in range(3)] == \
        [[f"x{i}/{other}"] for i in range(3)]
    assert calls[other] == [["x0"], ["x1"], ["x2"]] and not held.done()
    released.set()
    assert held.result(10) == [f"held/{holder}"]
    assert (batcher.stats.calls, batcher.stats.requests, batcher.stats.lines) == (4, 4, 4)
    batcher.close(timeout=10)
    with pytest.raises(ValueError, match="at least one translate callable"):
        DynamicBatcher([])


# ---- the server ---------------------------------------------------------------------------


@contextlib.contextmanager
def running_server(model, options=None, api_key=None):
    """uvicorn serving ``create_app(model, ...)`` in a thread on a free port of 127.0.0.1;
    yields (base URL, app)."""
    app = create_app(model, options, api_key=api_key)
    sock = cli.listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive())
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def server(checkpoint):
    with running_server(load_model([checkpoint])) as (url, _):
        yield url


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


def expected_items(translator: Translator, lines, alignments=False, **options):
    """What /translate should answer for ``lines``, from the translator itself."""
    items = []
    for translation in translator.translate_chunks([lines], SearchOptions.of(**options),
                                                   alignments=alignments):
        item = {"translation": translation.text, "score": translation.score,
                "hypotheses": [{"translation": text, "score": score}
                               for text, score in translation.hypotheses]}
        if alignments:
            item["alignments"] = [{"source_tokens": a.source_tokens,
                                   "target_tokens": a.target_tokens, "weights": a.weights}
                                  for a in translation.alignments]
        items.append(item)
    return items


def assert_same_items(found, expected):
    """Equal texts and tokens; scores and weights equal up to float32 rounding (a line's
    batch neighbours may differ from the offline run's)."""
    assert len(found) == len(expected)
    for got, want in zip(found, expected):
        assert set(got) == set(want)
        assert got["translation"] == want["translation"]
        assert [h["translation"] for h in got["hypotheses"]] == \
            [h["translation"] for h in want["hypotheses"]]
        if want["score"] is None:
            assert got["score"] is None
        else:
            assert got["score"] == pytest.approx(want["score"], abs=1e-5)
        assert [h["score"] for h in got["hypotheses"]] == \
            pytest.approx([h["score"] for h in want["hypotheses"]], abs=1e-5)
        for got_a, want_a in zip(got.get("alignments", []), want.get("alignments", [])):
            assert got_a["source_tokens"] == want_a["source_tokens"]
            assert got_a["target_tokens"] == want_a["target_tokens"]
            assert got_a["weights"] == [pytest.approx(row, abs=1e-5) for row in want_a["weights"]]
        assert len(got.get("alignments", [])) == len(want.get("alignments", []))


def test_the_toy_model_has_learned_its_task(offline):
    lines = sentences(20, seed=5)
    assert sum(t == german(s) for s, t in zip(lines, offline.translate(lines))) >= 15


@pytest.mark.parametrize("options", [{}, {"beam_size": 1}, {"beam_size": 4, "nbest": 3},
                                     {"beam_size": 3, "alpha": 0.0, "max_len_b": 3}])
def test_translations_are_seq2seq_translates_line_for_line(client, offline, options):
    lines = [*sentences(10, seed=7), "", "  ", "the dog"]
    answer = client.post("/translate", json={"text": lines, **options})
    assert answer.status_code == 200, answer.text
    found = answer.json()["translations"]
    assert_same_items(found, expected_items(offline, lines, **options))
    # ... and exactly what seq2seq-translate prints, the same Translator.translate call.
    search = {"beam_size": 5, **options}
    nbest = options.get("nbest", 1)
    printed = offline.translate(lines, **search)
    if nbest == 1:
        assert [item["translation"] for item in found] == printed
    else:
        assert [[h["translation"] for h in item["hypotheses"]] for item in found] == \
            [[text for text, _ in hypotheses] for hypotheses in printed]
    assert found[10] == {"translation": "", "score": None, "hypotheses": []}


def test_alignments_are_the_translators(client, offline):
    lines = ["the old dog sees a red cat", "", "a fish"]
    answer = client.post("/translate", json={"text": lines, "beam_size": 3, "nbest": 2,
                                              "alignments": True})
    assert answer.status_code == 200, answer.text
    found = answer.json()["translations"]
    assert_same_items(found, expected_items(offline, lines, alignments=True, beam_size=3,
                                            nbest=2))
    first = found[0]["alignments"][0]
    assert first["target_tokens"][-1] == "</s>"
    assert len(first["weights"]) == len(first["target_tokens"])
    assert all(len(row) == len(first["source_tokens"]) for row in first["weights"])
    assert found[1]["alignments"] == []


def test_health_and_info(client, checkpoint):
    health = client.get("/health")
    assert health.status_code == 200
    assert {key: health.json()[key] for key in ("status", "model_loaded", "device", "version")} \
        == {"status": "ok", "model_loaded": True, "device": "cpu", "version": __version__}
    info = client.get("/info").json()
    model_options = torch.load(checkpoint, weights_only=True)["seq2seq"]["model_config"]
    assert info["source_language"] == "en" and info["target_language"] == "de"
    assert info["val_bleu"] == 42.5
    assert info["checkpoints"] == [{"name": "toy.ckpt", "val_bleu": 42.5, "model": model_options}]
    assert info["attention"] is True and info["ensemble_size"] == 1
    assert info["search_defaults"]["beam_size"] == 5
    assert info["limits"] == {"max_lines": 64, "max_chars": 1000, "max_queue_lines": 1000,
                              "max_beam_size": 16, "max_output_tokens": 512,
                              "max_request_work": 50_000, "max_src_tokens": 256}


def test_an_ensemble_translates_as_the_offline_ensemble(checkpoint, other_checkpoint):
    model = load_model([checkpoint, other_checkpoint])
    lines = sentences(6, seed=11)
    with running_server(model) as (url, _):
        answer = httpx.post(f"{url}/translate", json={"text": lines, "beam_size": 3}, timeout=60)
        info = httpx.get(f"{url}/info", timeout=60).json()
    ensemble = Translator.from_checkpoint([checkpoint, other_checkpoint])
    assert_same_items(answer.json()["translations"], expected_items(ensemble, lines, beam_size=3))
    assert answer.json()["translations"] != \
        expected_items(Translator.from_checkpoint(checkpoint), lines, beam_size=3)
    assert info["ensemble_size"] == 2 and info["val_bleu"] is None
    assert [each["val_bleu"] for each in info["checkpoints"]] == [42.5, None]


def test_ensemble_members_must_share_vocabularies(checkpoint, tmp_path):
    saved = torch.load(checkpoint, weights_only=True)
    few_words = ["the dog sees a cat", "a bird likes the fish"] * 20
    other = TokenizerPair.train(few_words, few_words, joint=False, vocab_size=20,
                                hard_vocab_limit=False, model_type="word")
    saved["seq2seq"]["tokenizers"] = other.to_dict()
    path = tmp_path / "foreign.ckpt"
    save_checkpoint(path, saved["state_dict"], saved["seq2seq"])
    with pytest.raises(ValueError, match="foreign.ckpt: its source subword vocabulary differs"):
        load_model([checkpoint, path])


LONG = "a" * 1001
ERRORS = [  # body (bytes or JSON), status, field
    (b'{"text": ["the dog"', 400, None),
    (b'{"text": ["the dog"], "alpha": NaN}', 400, None),
    (b"\xff\xfe", 400, None),
    ([], 422, None),
    ("the dog", 422, None),
    ({}, 422, "text"),
    ({"text": []}, 422, "text"),
    ({"text": "the dog"}, 422, "text"),
    ({"text": ["the dog", 3]}, 422, "text[1]"),
    ({"text": ["the dog", None]}, 422, "text[1]"),
    ({"text": ["\ud800"]}, 422, "text[0]"),
    ({"text": ["the dog"], "beamsize": 5}, 422, "beamsize"),
    ({"text": ["the dog"], "beam_size": "5"}, 422, "beam_size"),
    ({"text": ["the dog"], "beam_size": 2.5}, 422, "beam_size"),
    ({"text": ["the dog"], "beam_size": 0}, 422, "beam_size"),
    ({"text": ["the dog"], "beam_size": True}, 422, "beam_size"),
    ({"text": ["the dog"], "beam_size": 17}, 422, "beam_size"),
    ({"text": ["the dog"], "beam_size": 3, "nbest": 4}, 422, "nbest"),
    ({"text": ["the dog"], "alpha": -1}, 422, "alpha"),
    ({"text": ["the dog"], "alpha": 1e308}, 422, "alpha"),  # overflowed as a 500 before
    ({"text": ["the dog"], "max_len_b": 600}, 422, "max_len_b"),
    ({"text": ["the dog"], "max_len_a": 3}, 422, "max_len_a"),
    ({"text": ["the dog"], "alignments": "yes"}, 422, "alignments"),
    ({"text": ["the dog"] * 65}, 413, "text"),
    ({"text": ["the dog", LONG]}, 413, "text[1]"),
    ({"text": ["x" * 1000] * 64, "beam_size": 16, "nbest": 16}, 413, "text"),  # 1,024,000 > 50,000
    ({"text": ["x" * 1000] * 11, "beam_size": 5}, 413, "text"),  # 55,000 > 50,000
]


@pytest.mark.parametrize("body, status, field", ERRORS,
                         ids=[f"{status}-{field or index}" for index, (_, status, field)
                              in enumerate(ERRORS)])
def test_bad_requests_get_their_status_and_name_the_field(client, body, status, field):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.post("/translate", content=content,
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert set(error) == ({"error", "field"} if field else {"error"})
    assert error.get("field") == field
    if field:
        assert field in error["error"]


def test_wrong_content_type_unknown_routes_and_methods_answer_json(client):
    answer = client.post("/translate", content=b'{"text": ["a dog"]}',
                         headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]
    assert client.get("/nowhere").status_code == 404
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    assert client.get("/translate").status_code == 405
    assert client.get("/translate").json() == {"error": "Method Not Allowed"}


def test_alignments_need_an_attention_model(plain_checkpoint):
    with running_server(load_model([plain_checkpoint])) as (url, _):
        answer = httpx.post(f"{url}/translate", json={"text": ["a dog"], "alignments": True})
        assert answer.status_code == 422
        assert answer.json()["field"] == "alignments"
        assert httpx.get(f"{url}/info").json()["attention"] is False
        plain = httpx.post(f"{url}/translate", json={"text": ["a dog"], "beam_size": 2})
        assert plain.json()["translations"][0]["translation"] == \
            Translator.from_checkpoint(plain_checkpoint).translate(["a dog"], beam_size=2)[0]


def test_a_truncated_line_says_so(checkpoint, offline):
    lines = ["a dog sees the cat", "the big dog follows a small cat"]
    encoded = [offline.tokenizers.source.encode(line) for line in lines]
    assert len(encoded[0]) < len(encoded[1]) - 1
    with running_server(load_model([checkpoint], max_src_tokens=len(encoded[1]) - 1)) \
            as (url, _):
        items = httpx.post(f"{url}/translate", json={"text": lines},
                           timeout=60).json()["translations"]
    assert "truncated_from" not in items[0]
    assert items[1]["truncated_from"] == len(encoded[1])
    short = offline.tokenizers.source.decode(encoded[1][:-1])
    assert items[1]["translation"] == offline.translate([short])[0]


def test_oversize_bodies_are_refused_declared_or_streamed(checkpoint):
    options = ServeOptions(max_lines=2, max_chars=10)
    body = json.dumps({"text": ["a" * 10] * 2, "pad": "x" * options.max_body_bytes}).encode()
    with (running_server(load_model([checkpoint]), options) as (url, _),
          httpx.Client(base_url=url, timeout=60) as client):
        declared = client.post("/translate", content=body,
                               headers={"Content-Type": "application/json"})
        streamed = client.post("/translate", content=iter([body[:1000], body[1000:]]),
                               headers={"Content-Type": "application/json"})
        fine = client.post("/translate", json={"text": ["a dog"] * 2})
    limit = options.max_body_bytes
    assert (declared.status_code, declared.json()) == (
        413, {"error": f"the body has {len(body)} bytes, more than the {limit} allowed"})
    assert (streamed.status_code, streamed.json()) == (
        413, {"error": f"the body has more than the {limit} bytes allowed"})
    assert fine.status_code == 200


def test_api_key_is_required_when_set(checkpoint):
    with (running_server(load_model([checkpoint]), api_key="s3cret-ключ") as (url, _),
          httpx.Client(base_url=url, timeout=60) as client):
        body = {"text": ["a dog"], "beam_size": 1}
        missing = client.post("/translate", json=body)
        wrong = client.post("/translate", json=body, headers={"X-API-Key": "s3cret"})
        right = client.post("/translate", json=body,
                            headers={"X-API-Key": "s3cret-ключ".encode()})
        info_missing = client.get("/info")
        info_right = client.get("/info", headers={"X-API-Key": "s3cret-ключ".encode()})
        open_routes = [client.get(path).status_code for path in ("/", "/health")]
    assert (missing.status_code, missing.json()["field"]) == (401, "X-API-Key")
    assert "needs an API key" in missing.json()["error"]
    assert (wrong.status_code, wrong.json()) == (401, {"error": "wrong API key",
                                                       "field": "X-API-Key"})
    assert right.status_code == 200
    assert (info_missing.status_code, info_right.status_code) == (401, 200)
    assert open_routes == [200, 200]


def gated_model(checkpoint):
    """A served model whose translator records its calls and holds the first one until
    released; a request holding the line "POISON" fails."""
    model = load_model([checkpoint])
    translate_chunks = model.translator.translate_chunks

    def translate(lines, key):
        return list(translate_chunks([list(lines)], key[0], alignments=key[1]))

    gate = GatedTranslate(translate)
    model.translator.translate_chunks = lambda chunks, search, *, max_tokens, alignments: \
        gate(chunks[0], (search, alignments))
    return model, gate


def test_concurrent_requests_each_get_their_own_answers(checkpoint, offline):
    model, gate = gated_model(checkpoint)
    option_sets = [{"beam_size": 1}, {"beam_size": 3, "nbest": 2},
                   {"beam_size": 5, "alignments": True}, {}]
    good = [({"text": sentences(1 + i % 4, seed=100 + i), **option_sets[i % 4]}, 200, None)
            for i in range(12)]
    bad = [({"text": ["a dog"], "beam_size": 0}, 422, "beam_size"),
           ({"text": ["a dog", 5]}, 422, "text[1]"),
           ({"text": []}, 422, "text"),
           ({"text": ["a dog"] * 65}, 413, "text")]
    requests = good[:6] + bad + good[6:]  # 16
    with (running_server(model, ServeOptions(batch_wait_ms=0)) as (url, app),
          httpx.Client(base_url=url, timeout=60) as client):
        blocker = threading.Thread(target=client.post, args=("/translate",),
                                   kwargs={"json": {"text": ["the cat"]}})
        blocker.start()
        assert gate.entered.wait(30)
        start = threading.Barrier(len(requests))

        def send(request):
            start.wait()
            return client.post("/translate", json=request)

        with ThreadPoolExecutor(len(requests)) as pool:
            futures = [pool.submit(send, request) for request, _, _ in requests]
            queued = sum(len(request["text"]) for request, _, _ in good)
            wait_until(lambda: app.state.batcher.queued_lines == queued)
            gate.released.set()
            answers = [future.result() for future in futures]
        blocker.join(30)
        health = client.get("/health").json()
    for (request, status, field), answer in zip(requests, answers):
        assert answer.status_code == status, answer.text
        if status == 200:
            options = {key: value for key, value in request.items() if key != "text"}
            assert_same_items(answer.json()["translations"],
                              expected_items(offline, request["text"], **options))
        else:
            assert answer.json()["field"] == field
    # The blocker's call, then one call per set of search options for all 12 requests.
    assert len(gate.calls) == 1 + len(option_sets)
    assert sorted(len(lines) for lines, _ in gate.calls[1:]) == sorted(
        sum(len(request["text"]) for request, _, _ in good[k::4]) for k in range(4))
    assert (health["batches"], health["requests_translated"]) == (5, 13)


def test_a_request_that_fails_to_translate_does_not_break_its_batch(checkpoint, offline):
    model, gate = gated_model(checkpoint)
    texts = [sentences(2, seed=200), ["a dog", "POISON"], sentences(3, seed=201)]
    with (running_server(model, ServeOptions(batch_wait_ms=0)) as (url, app),
          httpx.Client(base_url=url, timeout=60) as client):
        blocker = threading.Thread(target=client.post, args=("/translate",),
                                   kwargs={"json": {"text": ["the cat"]}})
        blocker.start()
        assert gate.entered.wait(30)
        with ThreadPoolExecutor(len(texts)) as pool:
            futures = [pool.submit(client.post, "/translate", json={"text": text})
                       for text in texts]
            wait_until(lambda: app.state.batcher.queued_lines == 7)
            gate.released.set()
            answers = [future.result() for future in futures]
        blocker.join(30)
    assert [answer.status_code for answer in answers] == [200, 500, 200]
    assert answers[1].json() == {"error": "translating failed: RuntimeError: cannot translate "
                                          "POISON"}
    for index in (0, 2):
        assert_same_items(answers[index].json()["translations"],
                          expected_items(offline, texts[index]))
    # One call for the three (in their order of arrival), then one call for each.
    assert sorted(gate.calls[1][0]) == sorted(texts[0] + texts[1] + texts[2])
    assert sorted(lines for lines, _ in gate.calls[2:]) == sorted(texts)


def test_seeded_sampling_requests_are_translated_alone_and_reproducibly(checkpoint, offline):
    model, gate = gated_model(checkpoint)
    sampling = {"sampling": True, "nbest": 3, "seed": 7, "temperature": 1.5}
    texts = [sentences(3, seed=400), sentences(2, seed=401)]
    with (running_server(model, ServeOptions(batch_wait_ms=0)) as (url, app),
          httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(3) as pool):
        blocker = pool.submit(client.post, "/translate", json={"text": ["the cat"]})
        assert gate.entered.wait(30)
        futures = [pool.submit(client.post, "/translate", json={"text": text, **sampling})
                   for text in texts]
        wait_until(lambda: app.state.batcher.queued_lines == 5)
        gate.released.set()
        answers = [future.result() for future in futures]
        blocker.result()
    for text, answer in zip(texts, answers):
        assert answer.status_code == 200, answer.text
        assert_same_items(answer.json()["translations"],
                          expected_items(offline, text, **sampling))
    assert sorted(lines for lines, _ in gate.calls[1:]) == sorted(texts)


def test_a_full_queue_answers_429_and_the_queued_requests_still_succeed(checkpoint, offline):
    model, gate = gated_model(checkpoint)
    with (running_server(model, ServeOptions(batch_wait_ms=0, max_lines=3, max_queue_lines=3)) as (url, app),
          httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(2) as pool):
        running = pool.submit(client.post, "/translate", json={"text": ["the cat"]})
        assert gate.entered.wait(30)
        queued = pool.submit(client.post, "/translate",
                             json={"text": ["a dog", "the bird"]})
        wait_until(lambda: app.state.batcher.queued_lines == 2)
        refused = client.post("/translate", json={"text": ["a fish", "a horse"]})
        gate.released.set()
        answers = [running.result(), queued.result()]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json() == {"error": "the server is busy: 2 lines are waiting to be "
                                       "translated; 2 more would pass the limit of 3; try "
                                       "again shortly"}
    assert [answer.status_code for answer in answers] == [200, 200]
    assert_same_items(answers[1].json()["translations"],
                      expected_items(offline, ["a dog", "the bird"]))


def test_the_page_is_served_without_outside_resources(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for marker in ('id="source"', 'id="beam"', 'id="pair"', "/translate", "heatmap"):
        assert marker in page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)


# ---- the command line ---------------------------------------------------------------------


def test_is_loopback():
    assert [cli.is_loopback(host) for host in ("127.0.0.1", "127.5.0.1", "::1", "localhost")] \
        == [True, True, True, True]
    assert [cli.is_loopback(host) for host in ("0.0.0.0", "::", "", "no.such.host.invalid")] \
        == [False, False, False, False]


def test_a_reachable_host_needs_an_api_key(checkpoint, monkeypatch, capsys):
    monkeypatch.delenv(cli.API_KEY_ENV, raising=False)
    for argv in (["--host", "0.0.0.0"], ["--host", "0.0.0.0", "--api-key", " "]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["--checkpoint", str(checkpoint), *argv])
        assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors[0].endswith("error: --host 0.0.0.0 can be reached from other machines: set "
                               "an API key ($SEQ2SEQ_API_KEY or --api-key) or pass "
                               "--insecure-no-key")
    assert errors[-1].endswith("error: --api-key is empty; give a key or leave it out")
    monkeypatch.setenv(cli.API_KEY_ENV, "from-the-environment")
    args = cli.build_parser().parse_args(["--checkpoint", "x", "--host", "0.0.0.0"])
    assert args.api_key == "from-the-environment"


@pytest.mark.parametrize("argv, message", [
    (["--max-lines", "5", "--max-queue-lines", "4"],
     "--max-queue-lines (4) must be at least --max-lines (5)"),
    (["--batch-wait-ms", "-1"], "--batch-wait-ms must be finite and >= 0, got -1.0"),
    (["--batch-wait-ms", "nan"], "--batch-wait-ms must be finite and >= 0, got nan"),
    (["--port", "65536"], "--port must be from 0 to 65535, got 65536"),
    (["--max-chars", "0"], "--max-chars must be positive, got 0"),
    (["--workers", "0"], "--workers must be positive, got 0"),
    (["--threads", "-2"], "--threads must be positive, got -2"),
    (["--backend", "onnxruntime"], "seq2seq-serve runs the torch backend"),
    (["--dtype", "int8"], "seq2seq-serve runs the torch backend"),
    (["--ensemble-weights", "1", "2"], "--ensemble-weights: 2 weights for 1 checkpoints"),
    (["--ensemble-weights", "-1"], "--ensemble-weights must be positive and finite"),
])
def test_bad_options_are_usage_errors(checkpoint, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--checkpoint", str(checkpoint), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_start_errors_are_one_line_with_exit_status_2_or_1(checkpoint, tmp_path, capsys):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    assert cli.main(["--checkpoint", str(checkpoint), str(bad), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seq2seq-serve: error: ")
    assert str(bad) in err
    assert cli.main(["--checkpoint", str(checkpoint), "--device", "nonsense", "--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("seq2seq-serve: error: --device nonsense:")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert cli.main(["--checkpoint", str(checkpoint), "--port", str(port)]) == 1
    assert capsys.readouterr().err == \
        f"seq2seq-serve: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("device, cpus, workers, threads, layout", [
    ("cpu", 2, None, None, (2, 1)),  # one single-threaded worker per CPU
    ("cpu", 1, None, None, (1, 1)),
    ("cpu", 16, None, None, (4, 4)),  # at most 4 copies of the model by default
    ("cpu", 16, 3, None, (3, 5)),
    ("cpu", 2, 1, None, (1, 2)),
    ("cpu", 2, 4, 2, (4, 2)),  # as asked, even past the CPUs
    ("cuda", 16, None, None, (1, None)),
    ("cuda", 16, 2, 3, (2, 3)),
])
def test_worker_layout_defaults(monkeypatch, device, cpus, workers, threads, layout):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    assert cli.worker_layout(torch.device(device), workers, threads) == layout


def start_serve(argv, env=None):
    """``seq2seq-serve`` in a subprocess on a free port; (process, base URL), once it says
    where it listens."""
    process = subprocess.Popen([sys.executable, "-m", "seq2seq.serve.cli", "--port", "0",
                                "--log-level", "warning", *argv],
                               stderr=subprocess.PIPE, text=True, env=env)
    line = process.stderr.readline()
    while "warning:" in line:  # e.g. more workers than this machine's CPUs
        line = process.stderr.readline()
    match = re.search(r"on (http://127\.0\.0\.1:\d+)/$", line.strip())
    if not match:
        process.kill()
        raise AssertionError(f"unexpected start: {line}{process.communicate()[1]}")
    return process, match[1]


def test_sigterm_answers_the_request_in_flight_then_exits_143(checkpoint, offline):
    process, url = start_serve(["--checkpoint", str(checkpoint), "--batch-wait-ms", "1500"])
    try:
        assert httpx.get(f"{url}/health", timeout=60).json()["model_loaded"] is True
        lines = sentences(3, seed=300)
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.post, f"{url}/translate", json={"text": lines},
                                    timeout=60)
            time.sleep(0.5)  # the request waits in the batcher's 1.5 s gathering window
            process.send_signal(signal.SIGTERM)
            answer = in_flight.result()
        status = process.wait(60)
    finally:
        process.kill()
        stderr = process.communicate()[1]
    assert answer.status_code == 200
    assert [item["translation"] for item in answer.json()["translations"]] == \
        offline.translate(lines)
    assert status == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=5)


# ---- the model in a process of its own -----------------------------------------------------


@pytest.fixture(scope="module")
def model_process(checkpoint):
    model = ModelProcess(ModelSpec((str(checkpoint),)))
    yield model
    model.close()


def slow_call(model, seconds_at_least: float = 2.0):
    """Start a translate call that runs for at least a few seconds, on a thread; return
    (thread, outcome dict)."""
    lines = sentences(400, seed=900) * 4
    outcome = {}

    def run():
        try:
            outcome["result"] = model.translate(lines, SearchOptions(beam_size=16), False, 64)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_the_model_process_translates_as_the_model_in_this_process(checkpoint, model_process):
    local = load_model([checkpoint])
    assert model_process.info == local.info
    assert model_process.pid != os.getpid()
    lines = [*sentences(5, seed=800), "", "the dog sees the bird"]
    for search, alignments in [(SearchOptions(beam_size=1), False),
                               (SearchOptions(beam_size=4, nbest=3), True)]:
        found = model_process.translate(lines, search, alignments, 100)
        expected = local.translate(lines, search, alignments, 100)
        # The child runs torch on its own threads: sums may round in another order.
        assert [[text for text, _ in t.hypotheses] for t in found] == \
            [[text for text, _ in t.hypotheses] for t in expected]
        assert [score for t in found for _, score in t.hypotheses] == pytest.approx(
            [score for t in expected for _, score in t.hypotheses], abs=1e-5)
        assert [t.alignments is None for t in found] == [t.alignments is None for t in expected]
        for f, e in zip(found, expected):
            for a, b in zip(f.alignments or [], e.alignments or []):
                assert (a.source_tokens, a.target_tokens) == (b.source_tokens, b.target_tokens)
                torch.testing.assert_close(torch.tensor(a.weights), torch.tensor(b.weights),
                                           rtol=0, atol=1e-5)


def translated_by(model, line: str) -> str:
    return model.translate([line], SearchOptions(), False, 100)[0].text


def test_an_error_in_the_model_process_is_raised_as_itself_and_the_model_goes_on(
        model_process, offline):
    pid = model_process.pid
    with pytest.raises(ValueError, match="max_tokens"):
        model_process.translate(["the dog sees a cat"], SearchOptions(), False, 0)
    assert translated_by(model_process, "the dog sees a cat") == \
        offline.translate(["the dog sees a cat"])[0]
    assert model_process.pid == pid


def test_a_model_process_killed_mid_call_fails_that_call_and_the_next_starts_a_new_one(
        checkpoint, offline):
    lines = sentences(2, seed=901)
    expected = offline.translate(lines)
    model = ModelProcess(ModelSpec((str(checkpoint),)))
    try:
        thread, outcome = slow_call(model)
        time.sleep(1.0)
        first = model.pid
        os.kill(first, signal.SIGKILL)
        thread.join(60)
        assert isinstance(outcome.get("error"), ModelProcessDied), outcome
        assert "killed by signal 9" in str(outcome["error"])
        assert translated_by(model, lines[0]) == expected[0]
        assert model.pid not in (None, first) and model.starts == 2
        # Found dead between calls: replaced, and the call does not fail.
        os.kill(model.pid, signal.SIGKILL)
        wait_until(lambda: not model._process.is_alive())
        assert translated_by(model, lines[1]) == expected[1]
        assert model.starts == 3
    finally:
        model.close()


def test_close_stops_a_busy_model_process_after_its_timeout(checkpoint):
    model = ModelProcess(ModelSpec((str(checkpoint),)))
    thread, outcome = slow_call(model)
    time.sleep(1.0)
    pid = model.pid
    start = time.monotonic()
    model.close(timeout=0.2)
    thread.join(60)
    assert time.monotonic() - start < 10
    assert isinstance(outcome.get("error"), ModelProcessDied), outcome
    with pytest.raises(OSError):
        os.kill(pid, 0)  # gone, and reaped
    with pytest.raises(ModelProcessDied, match="closed"):
        translated_by(model, "the dog sees a cat")
    model.close()  # twice is fine


def test_a_model_process_that_cannot_load_raises_what_loading_raised(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=re.escape(str(bad))):
        ModelProcess(ModelSpec((str(bad),)))


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_server_with_two_workers_answers_as_seq2seq_translate(checkpoint, offline):
    process, url = start_serve(["--checkpoint", str(checkpoint), "--workers", "2",
                                "--threads", "1"])
    try:
        assert httpx.get(f"{url}/health", timeout=60).json()["workers"] == 2
        children = model_children(process.pid)
        assert len(children) == 2
        requests = [sentences(count, seed=310 + count) for count in (1, 4, 2, 5, 3, 6)]
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda lines: httpx.post(
                f"{url}/translate", json={"text": lines}, timeout=120), requests))
        assert [[item["translation"] for item in answer.json()["translations"]]
                for answer in answers] == [offline.translate(lines) for lines in requests]
        health = httpx.get(f"{url}/health", timeout=60).json()
        assert (health["requests_translated"], health["lines_translated"]) == (6, 21)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 128 + signal.SIGTERM
        wait_until(lambda: not any(running(child) for child in children))
    finally:
        process.kill()
        process.communicate()


def test_a_stopped_worker_holds_only_its_own_call(checkpoint, offline):
    process, url = start_serve(["--checkpoint", str(checkpoint), "--workers", "2",
                                "--threads", "1"])
    stopped = None
    try:
        assert httpx.get(f"{url}/health", timeout=60).json()["workers"] == 2
        stopped = model_children(process.pid)[0]
        os.kill(stopped, signal.SIGSTOP)  # hung: alive, answering nothing
        requests = [sentences(2, seed=320 + index) for index in range(6)]
        with ThreadPoolExecutor(len(requests)) as pool:
            answers = []
            for lines in requests:  # one at a time: each call carries one request
                answers.append(pool.submit(httpx.post, f"{url}/translate",
                                           json={"text": lines}, timeout=120))
                time.sleep(0.5)
            # The stopped worker's thread took at most one call and waits in it; the
            # other worker answered the rest.
            wait_until(lambda: sum(future.done() for future in answers) >= len(requests) - 1)
            os.kill(stopped, signal.SIGCONT)
            translations = [[item["translation"] for item in future.result().json()[
                "translations"]] for future in answers]
        assert translations == [offline.translate(lines) for lines in requests]
    finally:
        if stopped is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stopped, signal.SIGCONT)
        process.kill()
        process.communicate()


def children_of(pid: int) -> list[int]:
    """The pids of ``pid``'s children (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def test_close_all_closes_every_model_at_once():
    together = threading.Barrier(3, timeout=10)  # passes only if all three close at once

    class Closing:
        def __init__(self):
            self.timeouts = []

        def close(self, timeout):
            self.timeouts.append(timeout)
            together.wait()

    models = [Closing() for _ in range(3)]
    close_all(models, timeout=7.0)
    assert [model.timeouts for model in models] == [[7.0]] * 3
    close_all([])


def test_replicas_that_cannot_start_raise_and_leave_no_process(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    before = set(model_children(os.getpid()))
    with pytest.raises(CheckpointError, match=re.escape(str(bad))):
        start_replicas(ModelSpec((str(bad),)), 2)
    assert set(model_children(os.getpid())) <= before


def model_children(pid: int) -> list[int]:
    """``pid``'s children but multiprocessing's resource tracker."""
    return [child for child in children_of(pid) if "resource_tracker" not in cmdline(child)]


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            return stream.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def test_a_server_killed_with_sigkill_leaves_no_model_process(checkpoint):
    script = ("import sys, time\n"
              "from seq2seq.serve.model_process import ModelProcess, ModelSpec\n"
              "model = ModelProcess(ModelSpec((sys.argv[1],)))\n"
              "print(model.pid, flush=True)\n"
              "time.sleep(600)\n")
    server = subprocess.Popen([sys.executable, "-c", script, str(checkpoint)],
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(server.stdout.readline())
        assert running(child)
        server.kill()
        server.wait(30)
        wait_until(lambda: not running(child))
    finally:
        server.kill()
        server.stdout.close()


def test_the_model_process_ignores_sigint_and_sigterm(model_process, offline):
    pid = model_process.pid
    for signum in (signal.SIGINT, signal.SIGTERM):
        os.kill(pid, signum)
    time.sleep(0.5)
    line = sentences(1, seed=902)[0]
    assert translated_by(model_process, line) == offline.translate([line])[0]
    assert model_process.pid == pid


# ---- the page in a browser -----------------------------------------------------------------


def chromium_binary() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def high_descriptor(fd: int) -> int:
    """``fd`` moved to a descriptor number of at least 10."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe
    (``--remote-debugging-pipe``: it reads NUL-terminated JSON commands on descriptor 3 and
    answers on 4), so that no websocket client is needed."""

    def __init__(self, binary: str, profile: str):
        # Chromium's ends go above 10 first, so that moving them to 3 and 4 clobbers neither.
        commands_read, self._commands = (high_descriptor(fd) for fd in os.pipe())
        self._replies, replies_write = (high_descriptor(fd) for fd in os.pipe())
        flags = ["--headless", "--remote-debugging-pipe", "--disable-gpu", "--no-first-run",
                 "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1000,760"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        # A small Python program moves the pipe ends to descriptors 3 and 4 and becomes
        # Chromium (no preexec_fn: this process runs threads).
        move = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
                "os.execv(sys.argv[3], sys.argv[3:])")
        self.process = subprocess.Popen(
            [sys.executable, "-c", move, str(commands_read), str(replies_write), binary,
             *flags, "about:blank"],
            pass_fds=(commands_read, replies_write), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(replies_write)
        self._buffer, self._next_id, self.session = b"", 0, None

    def call(self, method: str, timeout: float = 30, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                assert left > 0 and select.select([self._replies], [], [], left)[0], \
                    f"no answer to {method}"
                chunk = os.read(self._replies, 1 << 20)
                assert chunk, "Chromium closed the pipe"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply["error"]
                return reply["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        """The first truthy value of ``expression`` (errors count as not yet: the page may
        still be loading)."""
        guarded = f"(() => {{ try {{ return {expression}; }} catch (error) {{ return null; }} }})()"
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(guarded)):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.05)
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._commands)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        os.close(self._replies)


def test_the_page_translates_in_a_browser(server, offline):
    """Headless Chromium opens the page, types a sentence, clicks Translate and sees the
    translation and its heatmap. SEQ2SEQ_SCREENSHOT=docs/serve.png saves a screenshot."""
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary on PATH (apt-get install chromium, or set CHROMIUM)")
    sentence = "the old dog sees a small cat"
    with tempfile.TemporaryDirectory() as profile:
        browser = DevTools(binary, profile)
        try:
            target = browser.call("Target.createTarget", url="about:blank")["targetId"]
            browser.session = browser.call("Target.attachToTarget", targetId=target,
                                           flatten=True)["sessionId"]
            browser.call("Emulation.setDeviceMetricsOverride", width=1000, height=760,
                         deviceScaleFactor=1, mobile=False)
            browser.call("Page.navigate", url=f"{server}/")
            pair = "document.getElementById('pair').textContent"
            assert browser.wait_for(f"{pair}.includes('→') && {pair}") == "en → de"
            browser.evaluate("document.getElementById('source').focus()")
            browser.call("Input.insertText", text=sentence)
            box = browser.evaluate("(() => { const r = document.getElementById('submit')"
                                   ".getBoundingClientRect(); return [r.x + r.width / 2, "
                                   "r.y + r.height / 2]; })()")
            for kind in ("mousePressed", "mouseReleased"):
                browser.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                             button="left", clickCount=1)
            shown = browser.wait_for("document.getElementById('translation-0')?.textContent")
            cells = browser.evaluate("[...document.querySelectorAll('table.heatmap tbody tr')]"
                                     ".map(row => row.querySelectorAll('td').length)")
            pieces = browser.evaluate("[...document.querySelectorAll('table.heatmap thead th')]"
                                      ".slice(1).map(th => th.textContent)")
            screenshot = os.environ.get("SEQ2SEQ_SCREENSHOT")
            if screenshot:
                png = browser.call("Page.captureScreenshot", format="png")["data"]
                Path(screenshot).write_bytes(base64.b64decode(png))
        finally:
            browser.close()
    expected = expected_items(offline, [sentence], alignments=True)[0]
    assert shown == expected["translation"] == offline.translate([sentence])[0]
    alignment = expected["alignments"][0]
    assert pieces == alignment["source_tokens"]
    assert cells == [len(alignment["source_tokens"])] * len(alignment["target_tokens"])
