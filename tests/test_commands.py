import io
import json
import math
import select
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seq2seq.checkpoint import (
    model_state_dict,
    prefixed_state_dict,
    read_checkpoint,
    save_checkpoint,
    translation_payload,
)
from seq2seq.commands import average, evaluate, score, translate
from seq2seq.model import ModelConfig, Seq2Seq
from seq2seq.tokenizer import TokenizerPair
from seq2seq.translator import Translator
from seq2seq.vocab import BOS_ID, EOS_ID

REPO = Path(__file__).resolve().parents[1]
WORDS = ["the", "a", "dog", "cat", "bird", "sees", "likes", "runs", "big", "small", "red",
         "house", "tree", "river", "der", "die", "Hund", "Katze", "sieht", "läuft", "groß"]
LINES = ["the dog runs", "", "a big red house", "   ", "die Katze sieht den Hund", "tree"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sentences(count: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(1 + i % 5))
            for i in range(count)]


@pytest.fixture(scope="module")
def tokenizers() -> TokenizerPair:
    text = sentences(300)
    return TokenizerPair.train(text, text, joint=False, vocab_size=60, hard_vocab_limit=False)


def make_model(tokenizers: TokenizerPair, seed: int, hidden_size: int = 16) -> Seq2Seq:
    torch.manual_seed(seed)
    config = ModelConfig(src_vocab_size=tokenizers.source.vocab_size,
                         tgt_vocab_size=tokenizers.target.vocab_size, embedding_size=8,
                         hidden_size=hidden_size, maxout_size=8, init="pytorch")
    model = Seq2Seq(config).eval()
    with torch.no_grad():
        model.output.weight.mul_(3.0)
    return model


def write_checkpoint(path, model: Seq2Seq, tokenizers: TokenizerPair):
    save_checkpoint(path, prefixed_state_dict(model),
                    translation_payload(model, tokenizers, "en", "de"))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizers):
    path = tmp_path_factory.mktemp("model") / "model.ckpt"
    return write_checkpoint(path, make_model(tokenizers, seed=0), tokenizers)


def write_lines(path, lines: list[str]):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def output_lines(path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") or not text
    return text.split("\n")[:-1]


# ---- seq2seq-translate ---------------------------------------------------------------------


def test_translate_writes_one_line_per_input_line(checkpoint, tmp_path, capsys):
    source = write_lines(tmp_path / "in.txt", [*LINES, "the big dog sees the small cat " * 3])
    output = tmp_path / "out" / "hyp.txt"
    status = translate.main(["--checkpoint", str(checkpoint), "--input", str(source),
                             "--output", str(output), "--beam-size", "3",
                             "--max-src-tokens", "12", "--device", "cpu"])
    assert status == 0
    written = output_lines(output)
    assert len(written) == len(LINES) + 1
    assert [written[i] for i in (1, 3)] == ["", ""]
    assert all(written[i] for i in (0, 2, 4, 5))
    expected = Translator.from_checkpoint(checkpoint, max_src_tokens=12).translate(
        [*LINES, "the big dog sees the small cat " * 3], beam_size=3)
    assert written == expected
    err = capsys.readouterr().err
    assert "line 7" in err and "line 1 " not in err
    assert "7 lines done" in err  # progress, when reading a file


def test_translate_reads_stdin_and_writes_stdout(checkpoint, monkeypatch, capsys):
    data = "".join(line + "\n" for line in LINES).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert translate.main(["--checkpoint", str(checkpoint), "--beam-size", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split("\n")[:-1] == \
        Translator.from_checkpoint(checkpoint).translate(LINES, beam_size=2)
    assert "lines done" not in captured.err


def test_translate_as_a_module_through_pipes(checkpoint):
    data = "".join(line + "\n" for line in LINES).encode()
    result = subprocess.run([sys.executable, "-m", "seq2seq.commands.translate",
                             "--checkpoint", str(checkpoint), "--beam-size", "1"],
                            input=data, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split("\n")[:-1] == \
        Translator.from_checkpoint(checkpoint).translate(LINES, beam_size=1)


def test_translate_json_and_nbest_formats(checkpoint, tmp_path):
    source = write_lines(tmp_path / "in.txt", LINES)
    common = ["--checkpoint", str(checkpoint), "--input", str(source), "--beam-size", "4"]
    assert translate.main([*common, "--output", str(tmp_path / "1.jsonl"), "--json"]) == 0
    records = [json.loads(line) for line in output_lines(tmp_path / "1.jsonl")]
    assert [r["source"] for r in records] == LINES
    assert records[1] == {"source": "", "translation": "", "score": None}
    assert isinstance(records[0]["translation"], str) and records[0]["score"] < 0
    assert not any("truncated_from" in record for record in records)

    tokens = len(Translator.from_checkpoint(checkpoint).tokenizers.source.encode(LINES[0]))
    assert translate.main([*common, "--output", str(tmp_path / "cut.jsonl"), "--json",
                           "--max-src-tokens", str(tokens - 1)]) == 0
    cut = [json.loads(line) for line in output_lines(tmp_path / "cut.jsonl")]
    assert cut[0]["truncated_from"] == tokens

    assert translate.main([*common, "--output", str(tmp_path / "3.jsonl"), "--json",
                           "--nbest", "3"]) == 0
    records3 = [json.loads(line) for line in output_lines(tmp_path / "3.jsonl")]
    assert records3[1]["translation"] == [] and records3[1]["score"] == []
    assert [r["translation"][0] for r in records3 if r["translation"]] == \
        [r["translation"] for r in records if r["translation"]]

    assert translate.main([*common, "--output", str(tmp_path / "3.txt"), "--nbest", "3"]) == 0
    for line, record in zip(output_lines(tmp_path / "3.txt"), records3):
        if not record["translation"]:
            assert line == ""
            continue
        fields = line.split("\t")
        assert fields[0::2] == record["translation"]
        scores = [float(value) for value in fields[1::2]]
        assert scores == sorted(scores, reverse=True) and len(scores) == 3
        assert scores == pytest.approx(record["score"], abs=1e-4)


def test_translate_invalid_utf8_names_the_line_after_writing_the_lines_before(
        checkpoint, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_bytes(b"the dog\na cat\nbad \xff byte\nthe tree\n")
    output = tmp_path / "out.txt"
    status = translate.main(["--checkpoint", str(checkpoint), "--input", str(source),
                             "--output", str(output), "--beam-size", "2"])
    assert status == 1
    err = capsys.readouterr().err
    assert f"{source}:3: invalid UTF-8" in err and "Traceback" not in err
    assert not output.exists()  # an --output file appears only on success (stdout: below)

    assert translate.main(["--checkpoint", str(checkpoint), "--input", str(source),
                           "--output", str(source)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert source.read_bytes().startswith(b"the dog\n")


def test_translate_invalid_utf8_on_stdin(checkpoint, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"the dog\n\xc3(\n")))
    assert translate.main(["--checkpoint", str(checkpoint), "--beam-size", "1"]) == 1
    captured = capsys.readouterr()
    assert "<stdin>:2: invalid UTF-8" in captured.err
    assert len(captured.out.split("\n")[:-1]) == 1


def test_translate_bad_checkpoint_and_bad_usage(tmp_path, capsys, checkpoint):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint")
    for path in (garbage, tmp_path / "missing.ckpt"):
        assert translate.main(["--checkpoint", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("seq2seq-translate: error: ") and str(path) in err
        assert "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        translate.main(["--checkpoint", str(checkpoint), "--beam-size", "2", "--nbest", "3"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(("flags", "message"), [
    (["--alpha", "nan"], "--alpha must be finite and >= 0, got nan"),
    (["--max-len-a", "-5", "--max-len-b", "-5"], "--max-len-a must be finite and >= 0, got -5.0"),
    (["--max-len-a", "0", "--max-len-b", "0.5"],
     "--max-len-b and --max-len-a allow a one-token source no output"),
    (["--min-length", "1000"],
     "--min-length must be at most 11, the output length --max-len-a and --max-len-b allow"),
    (["--beam-size", "0"], "--beam-size must be at least 1, got 0"),
    (["--max-len-b", "1e308"], "--max-len-b must be at most 1e+06, got 1e+308"),
    (["--max-tokens", "0"], "--max-tokens must be positive, got 0"),
])
@pytest.mark.parametrize("command", [translate, evaluate])
def test_search_options_that_would_give_empty_or_run_on_output_are_usage_errors(
        command, flags, message, checkpoint, tmp_path, capsys):
    source = write_lines(tmp_path / "in.txt", LINES)
    with pytest.raises(SystemExit) as exit_info:
        command.main(["--checkpoint", str(checkpoint), "--input" if command is translate
                      else "--source", str(source), *(["--references", str(source)]
                                                      if command is evaluate else []), *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[-1]


def test_translate_answers_each_line_of_an_interactive_pipe_before_the_next(checkpoint):
    """A caller that writes a line and waits for its translation gets it (as from
    fairseq-interactive), with stdin a pipe that stays open."""
    expected = Translator.from_checkpoint(checkpoint).translate(LINES[:2], beam_size=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "seq2seq.commands.translate", "--checkpoint", str(checkpoint),
         "--beam-size", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        for line, translation in zip(LINES[:2], expected):
            process.stdin.write((line + "\n").encode())
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], 60)
            assert ready, "no translation within 60 s of writing a line"
            assert process.stdout.readline().decode() == translation + "\n"
        process.stdin.close()
        assert process.wait(timeout=60) == 0, process.stderr.read().decode()
        assert process.stdout.read() == b""
    finally:
        process.kill()
        process.wait()


def test_translate_dtype_option(checkpoint, tmp_path, capsys):
    source = write_lines(tmp_path / "in.txt", LINES)
    output = tmp_path / "hyp.jsonl"
    assert translate.main(["--checkpoint", str(checkpoint), "--input", str(source),
                           "--output", str(output), "--dtype", "bfloat16", "--json"]) == 0
    scores = [json.loads(line)["score"] for line in output_lines(output)]

    def expected(dtype: str) -> list[float | None]:
        translator = Translator.from_checkpoint(checkpoint, dtype=dtype)
        return [t.score for t in translator.translate_stream(LINES, beam_size=5)]

    assert scores == expected("bfloat16") != expected("float32")  # the two differ
    with pytest.raises(SystemExit) as exit_info:
        translate.main(["--checkpoint", str(checkpoint), "--dtype", "float64"])
    assert exit_info.value.code == 2
    assert "--dtype" in capsys.readouterr().err


# ---- seq2seq-evaluate ----------------------------------------------------------------------


HYPOTHESES = ["The cat sat on a mat .", "a dog ran home", "Hello world", "", "it is  raining "]
REFERENCES = ["The cat sat on the mat .", "A dog runs home .", "hello world !", "nothing",
              "it rains"]


def test_evaluate_matches_the_sacrebleu_command(tmp_path, capsys):
    hyp = write_lines(tmp_path / "hyp.txt", HYPOTHESES)
    ref = write_lines(tmp_path / "ref.txt", REFERENCES)
    assert evaluate.main(["--hypotheses", str(hyp), "--references", str(ref), "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    for metric in ("bleu", "chrf", "ter"):
        result = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), "-m", metric, "-b",
                                 "-w", "4"], capture_output=True, text=True, timeout=60,
                                check=False)
        assert result.returncode == 0, result.stderr
        assert float(result.stdout) == pytest.approx(round(ours[metric]["score"], 4), abs=1e-9)

    assert evaluate.main(["--hypotheses", str(hyp), "--references", str(ref),
                          "--metrics", "bleu"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith("BLEU|nrefs:1|case:mixed|")


def test_evaluate_several_references_and_mismatched_files(tmp_path, capsys):
    hyp = write_lines(tmp_path / "hyp.txt", HYPOTHESES)
    ref = write_lines(tmp_path / "ref.txt", REFERENCES)
    short = write_lines(tmp_path / "short.txt", REFERENCES[:3])
    assert evaluate.main(["--hypotheses", str(hyp), "--references", str(ref), str(ref)]) == 0
    assert "nrefs:2" in capsys.readouterr().out
    assert evaluate.main(["--hypotheses", str(hyp), "--references", str(ref), str(short)]) == 1
    err = capsys.readouterr().err
    assert f"{hyp} has 5, {ref} has 5, {short} has 3" in err


def test_evaluate_translates_then_scores(checkpoint, tmp_path, capsys):
    source = write_lines(tmp_path / "src.txt", LINES)
    ref = write_lines(tmp_path / "ref.txt", ["the dog runs", "", "a big red house", "", "x", "y"])
    kept = tmp_path / "hyp.txt"
    assert evaluate.main(["--checkpoint", str(checkpoint), "--source", str(source),
                          "--references", str(ref), "--output", str(kept), "--beam-size", "2",
                          "--json"]) == 0
    translated = json.loads(capsys.readouterr().out)
    assert output_lines(kept) == Translator.from_checkpoint(checkpoint).translate(
        LINES, beam_size=2)
    assert evaluate.main(["--hypotheses", str(kept), "--references", str(ref), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == translated

    short = write_lines(tmp_path / "short.txt", ["only one"])
    assert evaluate.main(["--checkpoint", str(checkpoint), "--source", str(source),
                          "--references", str(short)]) == 1
    err = capsys.readouterr().err
    assert f"{source} has 6" in err and f"{short} has 1" in err
    with pytest.raises(SystemExit):
        evaluate.main(["--checkpoint", str(checkpoint), "--references", str(ref)])


def test_evaluate_script_is_the_same_command(tmp_path):
    hyp = write_lines(tmp_path / "hyp.txt", HYPOTHESES)
    ref = write_lines(tmp_path / "ref.txt", REFERENCES)
    result = subprocess.run([sys.executable, "scripts/evaluate_bleu.py", "--hypotheses", str(hyp),
                             "--references", str(ref), "--metrics", "bleu"],
                            capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("BLEU|nrefs:1|")


# ---- seq2seq-score -------------------------------------------------------------------------


def manual_log_prob(model: Seq2Seq, src: list[int], tgt: list[int]) -> float:
    """log p(tgt + EOS | src), one sentence at a time, with the model's decode steps."""
    with torch.no_grad():
        encoded = model.encode(torch.tensor([src or [0]]), torch.tensor([len(src)]))
        hidden = model.initial_hidden(encoded)
        total, prev = 0.0, BOS_ID
        for token in [*tgt, EOS_ID]:
            logits, hidden, _ = model.decode_step(torch.tensor([prev]), hidden, encoded)
            total += float(torch.log_softmax(logits.double(), dim=-1)[0, token])
            prev = token
    return total


def test_score_equals_the_summed_token_log_probabilities(checkpoint, tokenizers, tmp_path,
                                                         capsys):
    sources = ["the dog runs", "a big red house", "", "tree"]
    targets = ["der Hund läuft", "", "die Katze", "the tree sees a river"]
    src = write_lines(tmp_path / "src.txt", sources)
    tgt = write_lines(tmp_path / "tgt.txt", targets)
    assert score.main(["--checkpoint", str(checkpoint), "--src", str(src), "--tgt", str(tgt),
                       "--max-tokens", "10"]) == 0
    captured = capsys.readouterr()
    rows = [line.split("\t") for line in captured.out.splitlines()]
    model = make_model(tokenizers, seed=0)
    expected = [manual_log_prob(model, tokenizers.source.encode(s), tokenizers.target.encode(t))
                for s, t in zip(sources, targets)]
    counts = [len(tokenizers.target.encode(t)) + 1 for t in targets]
    assert [float(total) for total, _ in rows] == pytest.approx(expected, abs=2e-4)
    assert [float(per) for _, per in rows] == pytest.approx(
        [e / c for e, c in zip(expected, counts)], abs=2e-4)
    perplexity = math.exp(-sum(expected) / sum(counts))
    assert f"perplexity {perplexity:.2f}" in captured.err

    assert score.main(["--checkpoint", str(checkpoint), "--src", str(src), "--tgt", str(tgt),
                       "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["num_tokens"] for r in records] == counts
    assert [r["total"] for r in records] == pytest.approx(expected, abs=1e-4)


def test_score_mismatched_files_are_named(checkpoint, tmp_path, capsys):
    src = write_lines(tmp_path / "src.txt", ["a", "b", "c"])
    tgt = write_lines(tmp_path / "tgt.txt", ["a", "b"])
    assert score.main(["--checkpoint", str(checkpoint), "--src", str(src), "--tgt", str(tgt)]) == 1
    err = capsys.readouterr().err
    assert f"{src} has 3" in err and f"{tgt} has 2" in err


# ---- seq2seq-average -----------------------------------------------------------------------


def test_average_is_the_mean_of_the_weights(tokenizers, tmp_path, capsys):
    first = write_checkpoint(tmp_path / "a.ckpt", make_model(tokenizers, seed=1), tokenizers)
    second = write_checkpoint(tmp_path / "b.ckpt", make_model(tokenizers, seed=2), tokenizers)
    averaged = tmp_path / "avg.ckpt"
    assert average.main(["--output", str(averaged), str(first), str(second)]) == 0
    a, b = (model_state_dict(read_checkpoint(path)) for path in (first, second))
    result = model_state_dict(read_checkpoint(averaged))
    assert result.keys() == a.keys()
    for name in a:
        assert not torch.equal(a[name], b[name]) or not a[name].any()
        torch.testing.assert_close(result[name], (a[name] + b[name]) / 2)
    translator = Translator.from_checkpoint(averaged)
    assert len(translator.translate(["the dog", ""])) == 2


def test_average_refuses_other_models_and_overwriting_an_input(tokenizers, tmp_path, capsys):
    first = write_checkpoint(tmp_path / "a.ckpt", make_model(tokenizers, seed=1), tokenizers)
    wider = write_checkpoint(tmp_path / "wide.ckpt",
                             make_model(tokenizers, seed=1, hidden_size=24), tokenizers)
    joint = TokenizerPair(tokenizers.source)
    other_tokens = write_checkpoint(tmp_path / "joint.ckpt", make_model(tokenizers, seed=1), joint)
    for other, what in ((wider, "model options"), (other_tokens, "tokenizers")):
        assert average.main(["--output", str(tmp_path / "x.ckpt"), str(first), str(other)]) == 2
        err = capsys.readouterr().err
        assert f"{other} has other {what} than {first}" in err
    assert average.main(["--output", str(first), str(first), str(wider)]) == 1
    assert f"the output {first} is also an input; refusing to overwrite it" in \
        capsys.readouterr().err
    assert not (tmp_path / "x.ckpt").exists()
