"""Nothing lost, nothing executed: the decoding commands facing bad inputs and faults.

Each test names the fault; the commands must refuse it with one line on stderr and the
documented exit status (seq2seq.commands), leaving every file they did not finish as it was.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from test_commands import make_model, output_lines, sentences, write_checkpoint, write_lines

from seq2seq.commands import average, evaluate, score, translate
from seq2seq.tokenizer import TokenizerPair
from seq2seq.translator import DEFAULT_MAX_LINE_TOKENS, Translator

REFUSED = "is also an input; refusing to overwrite it"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizers() -> TokenizerPair:
    text = sentences(300)
    return TokenizerPair.train(text, text, joint=False, vocab_size=60, hard_vocab_limit=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tokenizers):
    """A checkpoint that no test may change (tests that risk it work on a copy)."""
    path = tmp_path_factory.mktemp("model") / "model.ckpt"
    return write_checkpoint(path, make_model(tokenizers, seed=0), tokenizers)


@pytest.fixture
def ckpt(trained, tmp_path):
    """A copy of the checkpoint in the test's own folder."""
    return shutil.copy(trained, tmp_path / "v.ckpt")


def run_module(name: str, *args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"seq2seq.commands.{name}", *args],
                          capture_output=True, timeout=120, check=False, **options)


def command_writing(name: str, output, ckpt, source, reference) -> list[str]:
    """``name``'s arguments to read ``source`` (and ``reference``) and write ``output``."""
    arguments = {
        "translate": ["--input", source],
        "score": ["--src", source, "--tgt", reference],
        "evaluate": ["--source", source, "--references", reference, "--beam-size", "1"],
    }[name]
    return ["--checkpoint", str(ckpt), *map(str, arguments), "--output", str(output)]


MAINS = {"translate": translate.main, "score": score.main, "evaluate": evaluate.main}


# ---- the output is an input ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(MAINS))
@pytest.mark.parametrize("alias", ["same path", "hard link", "symbolic link"])
def test_output_naming_the_checkpoint_is_refused(name, alias, ckpt, tmp_path, capsys):
    source = write_lines(tmp_path / "src.en", ["the dog runs", "a cat"])
    output = {"same path": ckpt, "hard link": tmp_path / "hard.ckpt",
              "symbolic link": tmp_path / "soft.ckpt"}[alias]
    if alias == "hard link":
        os.link(ckpt, output)
    elif alias == "symbolic link":
        output.symlink_to(ckpt)
    before = ckpt.read_bytes()
    assert MAINS[name](command_writing(name, output, ckpt, source, source)) == 1
    assert capsys.readouterr().err == f"seq2seq-{name}: error: the output {output} {REFUSED}\n"
    assert ckpt.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        {"v.ckpt", "src.en", output.name})


@pytest.mark.parametrize("name", list(MAINS))
def test_output_hard_linked_to_an_input_is_refused(name, ckpt, tmp_path, capsys):
    source = write_lines(tmp_path / "src.en", ["the dog runs", "a cat"])
    reference = write_lines(tmp_path / "ref.de", ["der Hund läuft", "eine Katze"])
    linked = tmp_path / "linked.txt"
    os.link(source if name == "translate" else reference, linked)
    assert MAINS[name](command_writing(name, linked, ckpt, source, reference)) == 1
    assert capsys.readouterr().err == f"seq2seq-{name}: error: the output {linked} {REFUSED}\n"
    assert output_lines(source) == ["the dog runs", "a cat"]
    assert output_lines(reference) == ["der Hund läuft", "eine Katze"]


def test_translate_output_that_is_also_stdin_is_refused(ckpt, tmp_path):
    source = write_lines(tmp_path / "src.en", ["the dog runs", "a cat"])
    with open(source, "rb") as stdin:
        result = run_module("translate", "--checkpoint", str(ckpt), "--output", str(source),
                            stdin=stdin)
    assert result.returncode == 1
    assert result.stderr.decode() == f"seq2seq-translate: error: the output {source} {REFUSED}\n"
    assert output_lines(source) == ["the dog runs", "a cat"]


# ---- a failed command leaves the previous output as it was -----------------------------------


def test_translate_missing_input_keeps_the_previous_output(ckpt, tmp_path, capsys):
    previous = write_lines(tmp_path / "prev.de", ["an earlier translation"])
    missing = tmp_path / "missing.en"
    assert translate.main(["--checkpoint", str(ckpt), "--input", str(missing),
                           "--output", str(previous)]) == 1
    assert capsys.readouterr().err == f"seq2seq-translate: error: {missing}: no such file\n"
    assert output_lines(previous) == ["an earlier translation"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["prev.de", "v.ckpt"]


def test_translate_error_mid_input_keeps_the_previous_output(ckpt, tmp_path, capsys):
    source = tmp_path / "src.en"
    source.write_bytes(b"the dog\na cat\nbad \xff byte\nthe tree\n")
    previous = write_lines(tmp_path / "prev.de", ["an earlier translation"])
    previous.chmod(0o640)
    assert translate.main(["--checkpoint", str(ckpt), "--input", str(source),
                           "--output", str(previous), "--beam-size", "1"]) == 1
    assert f"{source}:3: invalid UTF-8" in capsys.readouterr().err
    assert output_lines(previous) == ["an earlier translation"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["prev.de", "src.en", "v.ckpt"]

    # On success the file is replaced whole, its permissions kept, nothing left beside it.
    source.write_bytes(b"the dog\na cat\n")
    assert translate.main(["--checkpoint", str(ckpt), "--input", str(source),
                           "--output", str(previous), "--beam-size", "1"]) == 0
    assert output_lines(previous) == Translator.from_checkpoint(ckpt).translate(
        ["the dog", "a cat"], beam_size=1)
    assert stat.S_IMODE(previous.stat().st_mode) == 0o640
    assert sorted(path.name for path in tmp_path.iterdir()) == ["prev.de", "src.en", "v.ckpt"]


def test_output_through_a_symbolic_link_replaces_the_file_it_points_to(ckpt, tmp_path):
    source = write_lines(tmp_path / "src.en", ["the dog runs"])
    target = write_lines(tmp_path / "real.de", ["old"])
    link = tmp_path / "out.de"
    link.symlink_to(target)
    assert translate.main(["--checkpoint", str(ckpt), "--input", str(source),
                           "--output", str(link), "--beam-size", "1"]) == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert output_lines(target) == Translator.from_checkpoint(ckpt).translate(
        ["the dog runs"], beam_size=1)


def test_output_to_a_fifo_is_written_into_it_not_replaced(ckpt, tmp_path):
    source = write_lines(tmp_path / "src.en", ["the dog runs", "a cat"])
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so that the command can open it
    try:
        assert translate.main(["--checkpoint", str(ckpt), "--input", str(source),
                               "--output", str(fifo), "--beam-size", "1"]) == 0
        received = os.read(reader, 1 << 16).decode()
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    expected = Translator.from_checkpoint(ckpt).translate(["the dog runs", "a cat"], beam_size=1)
    assert received == "".join(line + "\n" for line in expected)


# ---- binary input and CRLF line endings -----------------------------------------------------


def test_translate_binary_input_names_its_first_invalid_line(ckpt, trained, tmp_path, capsys):
    binary = shutil.copy(trained, tmp_path / "model.bin")  # a zip file: not UTF-8 text
    lines = binary.read_bytes().split(b"\n")
    bad = next(number for number, line in enumerate(lines, start=1)
               if not _is_utf8(line))
    output = tmp_path / "out.txt"
    assert translate.main(["--checkpoint", str(ckpt), "--input", str(binary),
                           "--output", str(output), "--beam-size", "1"]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith(f"seq2seq-translate: error: {binary}:{bad}: invalid UTF-8 (")
    assert not output.exists()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_crlf_line_endings_read_as_lf_in_every_command(ckpt, tmp_path, capsys):
    lines = ["the dog runs", "", "a big red house"]
    for name, newline in (("lf", "\n"), ("crlf", "\r\n")):
        (tmp_path / f"{name}.txt").write_bytes("".join(f"{line}{newline}" for line in lines)
                                               .encode())
    outputs = {}
    for name in ("lf", "crlf"):
        text = str(tmp_path / f"{name}.txt")
        assert translate.main(["--checkpoint", str(ckpt), "--input", text, "--beam-size", "1"]) == 0
        assert score.main(["--checkpoint", str(ckpt), "--src", text, "--tgt", text]) == 0
        assert evaluate.main(["--hypotheses", text, "--references", text, "--json"]) == 0
        outputs[name] = capsys.readouterr().out
    assert outputs["crlf"] == outputs["lf"]
    assert outputs["lf"].startswith("".join(line + "\n" for line in
                                            Translator.from_checkpoint(ckpt).translate(
                                                lines, beam_size=1)))


# ---- seq2seq-evaluate on empty files -------------------------------------------------------


def test_evaluate_empty_files_is_a_one_line_error(ckpt, tmp_path, capsys):
    hypotheses = write_lines(tmp_path / "hyp.de", [])
    references = write_lines(tmp_path / "ref.de", [])
    assert evaluate.main(["--hypotheses", str(hypotheses), "--references", str(references)]) == 1
    assert capsys.readouterr().err == (f"seq2seq-evaluate: error: nothing to score: {hypotheses}, "
                                       f"{references} have no lines\n")
    source = write_lines(tmp_path / "src.en", [])
    assert evaluate.main(["--checkpoint", str(ckpt), "--source", str(source), "--references",
                          str(references), str(references)]) == 1
    assert capsys.readouterr().err == (f"seq2seq-evaluate: error: nothing to score: {source}, "
                                       f"{references}, {references} have no lines\n")
    assert score.main(["--checkpoint", str(ckpt), "--src", str(source), "--tgt",
                       str(references)]) == 1
    assert capsys.readouterr().err == (f"seq2seq-score: error: nothing to score: {source}, "
                                       f"{references} have no lines\n")


# ---- seq2seq-score: lines too long to score --------------------------------------------------


@pytest.mark.parametrize("side", ["source", "target"])
def test_score_refuses_a_line_over_the_token_limit_naming_it(side, ckpt, tokenizers, tmp_path,
                                                             capsys):
    long_line = "the big red dog sees the small cat"
    tokens = len(getattr(tokenizers, side).encode(long_line))
    lines = {"source": ["the dog", "a cat", "tree"], "target": ["der Hund", "a cat", "tree"]}
    lines[side][2] = long_line
    src = write_lines(tmp_path / "src.en", lines["source"])
    tgt = write_lines(tmp_path / "tgt.de", lines["target"])
    output = write_lines(tmp_path / "scores.txt", ["previous scores"])
    common = ["--checkpoint", str(ckpt), "--src", str(src), "--tgt", str(tgt),
              "--output", str(output)]
    assert score.main([*common, "--max-line-tokens", str(tokens - 1)]) == 1
    at_fault = src if side == "source" else tgt
    assert capsys.readouterr().err == (
        f"seq2seq-score: error: {at_fault}:3: {tokens} subword tokens, more than the "
        f"{tokens - 1} allowed per line (--max-line-tokens)\n")
    assert output_lines(output) == ["previous scores"]
    assert score.main([*common, "--max-line-tokens", str(tokens)]) == 0
    assert len(output_lines(output)) == 3
    with pytest.raises(ValueError, match=rf"^{side}:3: {tokens} subword tokens, more than "
                                          rf"the {tokens - 1} allowed per line$"):
        Translator.from_checkpoint(ckpt).score(lines["source"], lines["target"],
                                               max_line_tokens=tokens - 1)


def test_score_refuses_a_megabyte_line_at_once_by_default(ckpt, tokenizers, tmp_path):
    huge = "the big dog sees a small cat " * 36_000  # about 1 MB, once ran past 300 s
    tokens = len(tokenizers.target.encode(huge))
    assert tokens > DEFAULT_MAX_LINE_TOKENS
    src = write_lines(tmp_path / "src.en", ["the dog", "a cat"])
    tgt = write_lines(tmp_path / "tgt.de", ["der Hund", huge])
    result = run_module("score", "--checkpoint", str(ckpt), "--src", str(src), "--tgt", str(tgt))
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f"seq2seq-score: error: {tgt}:2: {tokens} subword tokens, more than the "
        f"{DEFAULT_MAX_LINE_TOKENS} allowed per line (--max-line-tokens)\n")


# ---- messages: device, directory, unsafe checkpoint -----------------------------------------


def unusable_cuda() -> str:
    """A CUDA device name this machine cannot use: any without CUDA, else one past the last."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return "cuda" if count == 0 else f"cuda:{count}"


@pytest.mark.parametrize("name", ["translate", "score", "evaluate"])
def test_an_unusable_device_is_a_usage_error_naming_device(name, trained, tmp_path, capsys):
    source = write_lines(tmp_path / "src.en", ["the dog"])
    arguments = command_writing(name, tmp_path / "out.txt", trained, source, source)
    for device, reason in (("gpu", "unknown device 'gpu' (use cpu, cuda, cuda:N or auto)"),
                           (unusable_cuda(), None)):
        assert MAINS[name]([*arguments, "--device", device]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"seq2seq-{name}: error: --device {device}: ")
        assert err.count("\n") == 1 and "checkpoint" not in err
        if reason is not None:
            assert err == f"seq2seq-{name}: error: --device {device}: {reason}\n"
        elif not torch.cuda.is_available():
            assert err.endswith("CUDA was asked for but is not available (use cpu or auto)\n")
    assert not (tmp_path / "out.txt").exists()


def test_a_directory_as_checkpoint_is_named_a_directory(tmp_path, capsys):
    folder = tmp_path / "runs.ckpt"
    folder.mkdir()
    assert translate.main(["--checkpoint", str(folder)]) == 2
    assert capsys.readouterr().err == (f"seq2seq-translate: error: {folder / 'config.json'} is "
                                       f"missing: {folder} is not a model folder written by "
                                       "seq2seq-export\n")


class RunsCode:
    """Unpickling this calls ``function(*args)``; each creates the file ``marker``."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


# torch words its refusal of a blocked module (os) and of a merely unknown global apart.
UNSAFE_PICKLES = {
    "translate": (lambda marker: RunsCode(os.system, f"touch '{marker}'"),
                  "Trying to load unsupported GLOBAL posix.system whose module posix is blocked."),
    "score": (lambda marker: RunsCode(open, str(marker), "w"),
              "Unsupported global: GLOBAL io.open was not an allowed global by default."),
}


@pytest.mark.parametrize("name", list(UNSAFE_PICKLES))
def test_a_checkpoint_that_would_run_code_is_refused_without_unsafe_advice(name, tmp_path,
                                                                            capsys):
    make_hook, reason = UNSAFE_PICKLES[name]
    marker = tmp_path / "code-ran"
    path = tmp_path / "malicious.ckpt"
    torch.save({"state_dict": {}, "seq2seq": {"version": 1, "hook": make_hook(marker)}}, path)
    source = write_lines(tmp_path / "src.en", ["the dog"])
    arguments = command_writing(name, tmp_path / "out.txt", path, source, source)
    assert MAINS[name](arguments[:-2]) == 2  # without --output
    assert capsys.readouterr().err == (
        f"seq2seq-{name}: error: {path} is not a readable checkpoint (corrupt, truncated, or "
        f"not a torch file that loads with weights_only=True): {reason}\n")
    assert not marker.exists()
    torch.load(path, weights_only=False)  # what the file does when it is trusted
    assert marker.exists()


# ---- a reader that goes away ---------------------------------------------------------------


def test_translate_into_a_closed_pipe_exits_141_quietly(trained, tmp_path):
    lines = [f"the big dog sees the small cat near the red house {i}" for i in range(3000)]
    source = write_lines(tmp_path / "src.en", lines)  # --json: well over a 64 KiB pipe buffer
    # With --input, progress is reported at the end and every 2000 lines (--buffer-size); the
    # pipe fills up long before line 2000, so a report could only come from the broken pipe.
    process = subprocess.Popen(
        [sys.executable, "-m", "seq2seq.commands.translate", "--checkpoint", str(trained),
         "--input", str(source), "--json", "--beam-size", "1", "--buffer-size", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # what `| head -1` does
    try:
        returncode = process.wait(timeout=120)
    finally:
        process.kill()
    stderr = process.stderr.read()
    process.stderr.close()
    assert first.startswith(b'{"source": "the big dog sees the small cat near the red house 0"')
    assert returncode == 141
    assert stderr == b""


def tampered(ckpt, tmp_path, change) -> str:
    """A copy of ``ckpt`` after ``change(checkpoint_dict)``."""
    checkpoint = torch.load(ckpt, weights_only=True)
    change(checkpoint)
    path = tmp_path / "tampered.ckpt"
    torch.save(checkpoint, path)
    return str(path)


def with_nan_weight(checkpoint):
    name = next(iter(checkpoint["state_dict"]))
    checkpoint["state_dict"][name] = torch.full_like(checkpoint["state_dict"][name], float("nan"))


def with_option(name, value):
    return lambda checkpoint: checkpoint["seq2seq"]["model_config"].update({name: value})


def with_larger_tokenizer(tokenizers):
    text = [f"wort{i} mot{i * 7} slovo{i * 13}" for i in range(500)]
    larger = TokenizerPair.train(text, text, joint=False, vocab_size=90)
    assert larger.source.vocab_size > tokenizers.source.vocab_size
    return lambda checkpoint: checkpoint["seq2seq"].update({"tokenizers": larger.to_dict()})


@pytest.mark.parametrize(("change", "problem"), [
    (with_nan_weight, "weight src_embedding.weight is NaN or infinite (a diverged run?)"),
    (with_option("hidden_size", 20),
     "weight context_gates.weight has shape (48, 16), but the model options need (60, 20)"),
    (with_option("src_vocab_size", 30_000_000),  # checked before any model is built
     "weight src_embedding.weight has shape (SRC, 8), but the model options need (30000000, 8)"),
    (with_option("hidden_size", 16.0), "model option hidden_size must be a positive integer"),
    ("larger tokenizer", "the source subword model has"),
])
def test_a_tampered_or_diverged_checkpoint_is_refused_in_one_line(ckpt, tmp_path, tokenizers,
                                                                  change, problem, capsys):
    change = with_larger_tokenizer(tokenizers) if change == "larger tokenizer" else change
    path = tampered(ckpt, tmp_path, change)
    source = write_lines(tmp_path / "in.txt", ["a b c"])
    for command in (translate, score):
        inputs = (["--input", str(source)] if command is translate
                  else ["--src", str(source), "--tgt", str(source)])
        assert command.main(["--checkpoint", path, *inputs]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1
        assert problem.replace("SRC", str(tokenizers.source.vocab_size)) in err
    assert average.main(["--output", str(tmp_path / "avg.ckpt"), path]) == 2
    assert problem.replace("SRC", str(tokenizers.source.vocab_size)) in capsys.readouterr().err


@pytest.mark.parametrize("name", ["/dev/stdout", "log.txt"])
def test_output_naming_stdout_appends_to_what_stdout_is(ckpt, tmp_path, name):
    """``--output /dev/stdout >> log`` (or ``--output log >> log``) writes into the log:
    it does not replace the file."""
    source = write_lines(tmp_path / "src.en", ["a b", "c"])
    log = tmp_path / "log.txt"
    log.write_text("KEEP\n")
    with open(log, "a") as stdout:
        result = subprocess.run([sys.executable, "-m", "seq2seq.commands.translate", "--checkpoint",
                                 str(ckpt), "--input", str(source), "--output", name],
                                cwd=tmp_path,
                                stdout=stdout, stderr=subprocess.PIPE, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    expected = Translator.from_checkpoint(ckpt).translate(["a b", "c"])
    assert log.read_text().split("\n") == ["KEEP", *expected, ""]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_terminated_mid_output_keeps_the_previous_file_and_leaves_no_partial(ckpt, tmp_path,
                                                                              signum):
    if signal.getsignal(signum) is signal.SIG_IGN:  # under nohup: the child inherits it
        pytest.skip(f"{signal.Signals(signum).name} is ignored here, and the command rightly "
                    "leaves it ignored")
    source = write_lines(tmp_path / "big.en", sentences(300) * 200)
    output = tmp_path / "prev.de"
    output.write_text("PREVIOUS\n")
    process = subprocess.Popen([sys.executable, "-m", "seq2seq.commands.translate", "--checkpoint",
                                str(ckpt), "--input", str(source), "--output", str(output),
                                "--beam-size", "5"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".prev.de.*.partial")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "finished before it could be signalled"
    process.send_signal(signum)
    assert process.wait(timeout=60) == 128 + signum
    assert process.stderr.read() == b""
    assert output.read_text() == "PREVIOUS\n"
    assert not list(tmp_path.glob(".prev.de.*"))


def test_output_is_utf8_whatever_the_locale(ckpt, tmp_path):
    source = write_lines(tmp_path / "src.de", ["der König sieht die Hündin"])
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0",
           "PYTHONIOENCODING": "ascii"}
    result = run_module("translate", "--checkpoint", str(ckpt), "--input", str(source), "--json",
                        env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout.decode("utf-8"))["source"] == "der König sieht die Hündin"


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm here")
def test_a_regular_file_under_dev_is_replaced_whole_not_appended_to(ckpt, tmp_path):
    source = write_lines(tmp_path / "src.en", ["a b"])
    output = f"/dev/shm/seq2seq-test-{os.getpid()}.txt"
    try:
        for _ in range(2):
            assert translate.main(["--checkpoint", str(ckpt), "--input", str(source),
                                   "--output", output]) == 0
        assert output_lines(Path(output)) == Translator.from_checkpoint(ckpt).translate(["a b"])
    finally:
        if os.path.exists(output):
            os.remove(output)


def test_an_ignored_sighup_stays_ignored_as_under_nohup(ckpt, tmp_path):
    source = write_lines(tmp_path / "big.en", sentences(300) * 100)
    output = tmp_path / "out.de"
    command = [sys.executable, "-m", "seq2seq.commands.translate", "--checkpoint", str(ckpt),
               "--input", str(source), "--output", str(output), "--beam-size", "5"]
    # What nohup does: SIGHUP ignored, and inherited so through exec.
    process = subprocess.Popen(["bash", "-c", 'trap "" HUP; exec "$@"', "bash", *command])
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.de.*.partial")) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGHUP)
    assert process.wait(timeout=300) == 0
    assert len(output_lines(output)) == 30_000


def test_commands_run_from_another_thread_and_leave_the_signal_handlers_as_they_were(
        ckpt, tmp_path):
    source = write_lines(tmp_path / "src.en", ["a b"])
    before = signal.getsignal(signal.SIGTERM)
    assert translate.main(["--checkpoint", str(ckpt), "--input", str(source), "--output",
                           str(tmp_path / "a.de")]) == 0
    assert signal.getsignal(signal.SIGTERM) is before
    statuses = []
    thread = threading.Thread(target=lambda: statuses.append(translate.main(
        ["--checkpoint", str(ckpt), "--input", str(source), "--output", str(tmp_path / "b.de")])))
    thread.start()
    thread.join(120)
    assert statuses == [0]
