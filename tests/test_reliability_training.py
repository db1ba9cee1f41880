"""Nothing lost, nothing executed: seq2seq-train (and seq2seq-average) facing faults.

Each test names the fault: a full disk or a kill while checkpoints are written, a second
run in the same directory, a diverging run, stale prepared data, a crafted or truncated
checkpoint, empty lines in validation data, bad corpora. The command must refuse it with
one line on stderr and a non-zero exit status, leaving every file it did not finish as it
was.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from test_training import REPO, TINY_MODEL, fit_args

from seq2seq import module as module_of_training
from seq2seq.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from seq2seq.cli import SafeCheckpointIO, main
from seq2seq.commands import average
from seq2seq.datamodule import TranslationDataModule
from seq2seq.demo import generate_corpus
from seq2seq.files import atomic_write
from seq2seq.module import DivergedError
from seq2seq.runlock import RunLock, is_launching_process

DISK_FULL = f"[Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}"



@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache):
    """A one-epoch run whose checkpoints the tests copy or read, never change."""
    root = tmp_path_factory.mktemp("run")
    assert main(fit_args(root, cache, "--trainer.max_epochs", "1")) == 0
    return root


@pytest.fixture
def run_copy(tmp_path, trained):
    """A copy of the trained run directory, for a test to run on."""
    root = tmp_path / "run"
    for path in trained.rglob("*"):
        if path.is_file():
            (root / path.relative_to(trained)).parent.mkdir(parents=True, exist_ok=True)
            (root / path.relative_to(trained)).write_bytes(path.read_bytes())
    return root


@pytest.fixture
def disk_full(monkeypatch):
    """torch.save into an open file writes 1000 bytes, then fails as a full disk does.

    Saves to a path (the data module's tokenizers) are left alone: every checkpoint write
    goes through an open file (seq2seq.files.atomic_write).
    """
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if not hasattr(f, "write"):
            return real_save(obj, f, *args, **kwargs)
        f.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save)


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (the lock file aside) with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file() and path.name != ".lock"}


def checkpoint_files(root: Path) -> dict[str, bytes]:
    """The files of a run directory but its logs and config: checkpoints, and any left over."""
    return {name: data for name, data in files_of(root).items()
            if not name.startswith(("logs/", "tensorboard/")) and name != "config.yaml"}


def error_line(capsys) -> str:
    """The command's one error line: stderr's last, with no traceback before it."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def local_corpus(directory: Path, sizes=None) -> Path:
    """Plain-text en-de pairs {train,validation,test}.{en,de} made from the demo corpus."""
    corpus = generate_corpus(sizes or {"train": 300, "validation": 20, "test": 20}, seed=3)
    directory.mkdir(parents=True)
    for split, pairs in corpus.items():
        for lang, column in (("en", 0), ("de", 1)):
            write_lines(directory / f"{split}.{lang}", [pair[column] for pair in pairs])
    return directory


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def local_fit_args(root: Path, corpus: Path, cache: Path, *extra: str) -> list[str]:
    return ["fit", "--trainer.default_root_dir", str(root), "--trainer.accelerator", "cpu",
            "--trainer.devices", "1", "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--seed_everything", "7", *TINY_MODEL,
            "--data.source", str(corpus), "--data.vocab_size", "120", "--data.max_tokens", "600",
            "--data.cache_dir", str(cache), *extra]


# ---- 3. atomic checkpoint writes ------------------------------------------------------------


@pytest.mark.parametrize("fault", ["write", "fsync", "interrupt"])
def test_atomic_write_failure_keeps_the_previous_file_and_leaves_nothing(tmp_path, monkeypatch,
                                                                         fault):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"previous")
    if fault == "fsync":  # a disk that fills at the flush (delayed allocation)
        def fsync(descriptor):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(os, "fsync", fsync)
    failure = KeyboardInterrupt if fault == "interrupt" else OSError
    with pytest.raises(failure) as raised, atomic_write(path) as stream:
        stream.write(b"half of the new checkpoint")
        if fault == "write":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if fault == "interrupt":
            raise KeyboardInterrupt
    if failure is OSError:
        assert str(raised.value) == f"{DISK_FULL}: '{path}'"
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_checkpoints_are_renamed_from_their_own_folder(tmp_path, monkeypatch):
    """A rename within one folder stays on one file system (one from $TMPDIR may not)."""
    renames = []
    real_replace = os.replace

    def replace(source, target):
        renames.append((Path(source).parent, Path(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    run = tmp_path.resolve() / "run"
    save_checkpoint(run / "avg.ckpt", {"model.w": torch.zeros(1)}, {"version": 1})
    assert renames == [(run, run / "avg.ckpt")]
    assert read_checkpoint(run / "avg.ckpt")["state_dict"]["model.w"].tolist() == [0.0]


def test_atomic_write_keeps_the_umask_permissions(tmp_path):
    with atomic_write(tmp_path / "new.ckpt") as stream:
        stream.write(b"data")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "new.ckpt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "new.ckpt").read_bytes() == b"data"


def test_disk_full_while_resuming_keeps_every_checkpoint_and_fails_in_one_line(
        run_copy, cache, disk_full, capsys):
    before = checkpoint_files(run_copy)
    status = main(fit_args(run_copy, cache, "--trainer.max_epochs", "2", "--ckpt_path",
                           str(run_copy / "checkpoints" / "last.ckpt")))
    line = error_line(capsys)
    assert status == 1
    prefix = f"seq2seq-train: error: {DISK_FULL}: '{run_copy / 'checkpoints'}/"
    assert line.startswith(prefix) and line.endswith(".ckpt'") and "/" not in line[len(prefix):]
    assert checkpoint_files(run_copy) == before  # and no partial file beside them
    assert (run_copy / ".lock").read_text() == ""  # released


def test_average_on_a_full_disk_keeps_the_old_output_and_leaves_nothing(
        tmp_path, trained, disk_full, capsys):
    output = tmp_path / "avg.ckpt"
    output.write_bytes(b"previous average")
    status = average.main(["--output", str(output), str(trained / "best.ckpt"),
                           str(trained / "checkpoints" / "last.ckpt")])
    assert status == 1
    assert error_line(capsys) == f"seq2seq-average: error: {DISK_FULL}: '{output}'"
    assert output.read_bytes() == b"previous average"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avg.ckpt"]


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_resuming_from_a_damaged_last_checkpoint_names_it_in_one_line(run_copy, cache, capsys,
                                                                      damage):
    last = run_copy / "checkpoints" / "last.ckpt"
    last.write_bytes(b"" if damage == "empty" else last.read_bytes()[:1000])
    status = main(fit_args(run_copy, cache, "--trainer.max_epochs", "2",
                           "--ckpt_path", str(last)))
    line = error_line(capsys)
    assert status == 2
    assert line.startswith(f"seq2seq-train: error: --ckpt_path: {last} is not a readable "
                           "checkpoint (corrupt, truncated")
    assert "version_1" not in os.listdir(run_copy / "logs")  # refused before anything ran


def flat_hparams(checkpoint):  # as written before the options were nested (2026-11)
    hparams = checkpoint["hyper_parameters"]
    hparams.update(hparams.pop("network"), **hparams.pop("optimization"))


def wider_hparams(checkpoint):
    checkpoint["hyper_parameters"]["network"]["hidden_size"] = 64


@pytest.mark.parametrize(("change", "problem"), [
    (flat_hparams, "its training options ['adadelta_eps', "),
    (wider_hparams, ("weight context_gates.weight has shape (144, 48), but the model options "
                     "need (192, 64)")),
])
def test_resuming_a_checkpoint_whose_options_do_not_fit_is_one_line(run_copy, cache, capsys,
                                                                    change, problem):
    last = run_copy / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, last)
    status = main(fit_args(run_copy, cache, "--trainer.max_epochs", "2", "--ckpt_path", str(last)))
    line = error_line(capsys)
    assert status == 2
    assert line.startswith(f"seq2seq-train: error: --ckpt_path {last}: ") and problem in line
    assert "version_1" not in os.listdir(run_copy / "logs")  # refused before anything ran


def test_lightning_misconfiguration_is_one_line(tmp_path, cache, capsys, monkeypatch):
    """Lightning's own refusals (e.g. resuming at epoch 3 with --trainer.max_epochs 1)."""
    message = "You restored a checkpoint with current_epoch=3, but you have set Trainer(max_epochs=1)."

    def refuse(self):
        raise MisconfigurationException(message)

    monkeypatch.setattr(module_of_training.TranslationModule, "on_fit_start", refuse)
    assert main(fit_args(tmp_path / "run", cache)) == 2
    assert error_line(capsys) == f"seq2seq-train: error: {message}"


def test_empty_corpus_files_are_named(tmp_path, cache, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split in ("train", "validation", "test"):
        for lang in ("en", "de"):
            (corpus / f"{split}.{lang}").write_text("")
    args = fit_args(tmp_path / "run", cache, "--data.source", str(corpus))
    assert main(args) == 1
    assert error_line(capsys) == (
        f"seq2seq-train: error: {corpus / 'train.en'}, {corpus / 'train.de'}: no sentence pairs "
        "in the train split (the files are empty)")


def test_a_run_directory_that_is_a_file_is_named(tmp_path, cache, capsys):
    root = tmp_path / "afile"
    root.write_text("not a directory")
    assert main(fit_args(root, cache)) == 1
    assert error_line(capsys) == (
        f"seq2seq-train: error: [Errno 20] the run directory is not a directory: '{root}'")


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume(tmp_path, trained, cache):
    """SIGKILL at any moment: last.ckpt stays readable, the dead run's lock is taken over."""
    root = tmp_path / "run"
    args = fit_args(root, cache, "--trainer.max_epochs", "1000")
    process = subprocess.Popen([sys.executable, "-m", "seq2seq.cli", *args], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = root / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(1.5)  # into a later epoch, or into a write
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (root / ".lock").read_text() == f"{process.pid} {socket.gethostname()}\n"
    epoch = read_checkpoint(last)["epoch"]
    assert main(fit_args(root, cache, "--trainer.max_epochs", str(epoch + 2),
                         "--ckpt_path", str(last))) == 0
    assert read_checkpoint(last)["epoch"] == epoch + 1


# ---- 4. one run per directory ---------------------------------------------------------------


@pytest.mark.parametrize("subcommand", ["fit", "validate"])
def test_a_directory_held_by_a_live_run_is_refused(tmp_path, trained, cache, capsys,
                                                   subcommand):
    root = tmp_path / "run"
    lock = RunLock(root)  # another run's (an flock conflicts between open files too)
    try:
        args = fit_args(root, cache, "--trainer.max_epochs", "1")
        if subcommand == "validate":
            args = ["validate", *args[1:], "--ckpt_path", str(trained / "best.ckpt")]
        status = main(args)
    finally:
        lock.release()
    assert status == 1
    assert error_line(capsys) == (
        f"seq2seq-train: error: {root} is in use by another run (pid {os.getpid()} on "
        f"{socket.gethostname()}, lock file {root / '.lock'}); wait for it to end or give "
        "another --trainer.default_root_dir")
    assert os.listdir(root) == [".lock"]  # nothing written


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_released(tmp_path, cache):
    root = tmp_path / "run"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root.mkdir()
    (root / ".lock").write_text(f"{dead.pid} {socket.gethostname()}\n")
    assert main(fit_args(root, cache, "--trainer.max_steps", "2")) == 0
    assert (root / "checkpoints" / "last.ckpt").is_file()
    assert (root / ".lock").read_text() == ""


@pytest.mark.parametrize(("environment", "launching"), [
    ({}, True),
    ({"LOCAL_RANK": "0", "NODE_RANK": "0", "RANK": "0"}, True),  # rank 0 under torchrun
    ({"LOCAL_RANK": "1"}, False),  # a rank Lightning spawned
    ({"RANK": "3", "LOCAL_RANK": "0"}, False),  # torchrun, first rank of the second node
    ({"NODE_RANK": "1"}, False),
    ({"SLURM_PROCID": "2"}, False),
], ids=["plain", "torchrun-rank-0", "lightning-rank-1", "torchrun-rank-3", "node-1", "srun-rank-2"])
def test_only_the_launching_process_takes_the_lock(monkeypatch, environment, launching):
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID",
                "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    assert is_launching_process() is launching


# ---- 5. NaN and inf ---------------------------------------------------------------------------


def test_a_diverging_run_stops_with_one_line_and_keeps_the_good_checkpoints(run_copy, cache,
                                                                            capsys):
    before = checkpoint_files(run_copy)
    status = main(fit_args(run_copy, cache, "--trainer.max_epochs", "3", "--model.optimization.lr", "1e30",
                           "--trainer.gradient_clip_val", "null"))
    assert status == 1
    assert error_line(capsys) == (
        "seq2seq-train: error: training loss nan at step 1 (epoch 0): the run diverged; the "
        "checkpoints written before it are kept. Lower --model.optimization.lr or set "
        "--trainer.gradient_clip_val")
    assert checkpoint_files(run_copy) == before


def test_no_checkpoint_with_non_finite_weights_is_written(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"previous")
    state = {"model.a": torch.zeros(2), "model.b": torch.tensor([0.0, float("inf")])}
    with pytest.raises(DivergedError, match=rf"^refusing to write {path}: weight model.b is NaN "
                                           "or infinite; the checkpoints written before are kept$"):
        SafeCheckpointIO().save_checkpoint({"state_dict": state}, path)
    assert path.read_bytes() == b"previous"


def test_average_refuses_a_checkpoint_with_nan_weights(tmp_path, trained, capsys):
    checkpoint = read_checkpoint(trained / "best.ckpt")
    name = next(iter(checkpoint["state_dict"]))
    checkpoint["state_dict"][name] = torch.full_like(checkpoint["state_dict"][name], float("nan"))
    diverged = tmp_path / "diverged.ckpt"
    torch.save(checkpoint, diverged)
    output = tmp_path / "avg.ckpt"
    status = average.main(["--output", str(output), str(trained / "best.ckpt"), str(diverged)])
    assert status == 2
    assert error_line(capsys) == (f"seq2seq-average: error: {diverged}: weight "
                                  f"{name.removeprefix('model.')} is NaN or infinite (a "
                                  "diverged run?)")
    assert not output.exists()


# ---- 6. prepared data follows the files' contents ----------------------------------------------


def test_an_edit_keeping_size_and_modification_time_prepares_the_data_again(tmp_path):
    corpus = local_corpus(tmp_path / "corpus")
    reference = corpus / "validation.de"
    lines = reference.read_text(encoding="utf-8").splitlines()
    old = lines[0]
    lines[0] = old.swapcase()  # same length in bytes, different text
    assert lines[0] != old and len(lines[0].encode()) == len(old.encode())
    options = {"source": str(corpus), "vocab_size": 120, "cache_dir": str(tmp_path / "cache")}
    assert TranslationDataModule(**options).references("validation")[0] == old
    stat = reference.stat()
    write_lines(reference, lines)
    os.utime(reference, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as `cp -p` or rsync -t do
    assert reference.stat().st_size == stat.st_size
    assert TranslationDataModule(**options).references("validation")[0] == lines[0]


# ---- 7. checkpoints enter weights-only, local only -------------------------------------------


class _Payload:
    """Creates ``marker`` when unpickled in full (what weights-only loading must refuse)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def crafted(tmp_path, trained):
    """A checkpoint like ours whose unpickling would create ``marker``."""
    marker = tmp_path / "marker"
    checkpoint = read_checkpoint(trained / "best.ckpt")
    checkpoint["payload"] = _Payload(marker)
    path = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, path)
    torch.load(path, weights_only=False)  # the test means something: full unpickling runs it
    assert marker.exists()
    marker.unlink()
    return path, marker


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test"])
def test_a_crafted_checkpoint_runs_no_code(tmp_path, cache, crafted, capsys, subcommand):
    path, marker = crafted
    status = main([subcommand, *fit_args(tmp_path / "run", cache)[1:], "--ckpt_path", str(path)])
    line = error_line(capsys)
    assert status == 2
    assert line.startswith(f"seq2seq-train: error: --ckpt_path: {path} is not a readable "
                           "checkpoint")
    assert not marker.exists()


def test_a_crafted_last_checkpoint_found_by_lightning_runs_no_code(run_copy, cache, crafted,
                                                                   capsys):
    """``--ckpt_path last``: Lightning finds the file itself and reads it through our IO."""
    path, marker = crafted
    last = run_copy / "checkpoints" / "last.ckpt"
    last.write_bytes(path.read_bytes())
    status = main(fit_args(run_copy, cache, "--trainer.max_epochs", "2", "--ckpt_path", "last"))
    line = error_line(capsys)
    assert status == 2
    assert line.startswith(f"seq2seq-train: error: --ckpt_path: {last} is not a readable "
                           "checkpoint")
    assert not marker.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.ckpt", "s3://bucket/x.ckpt"])
def test_a_remote_checkpoint_is_refused_without_fetching_it(tmp_path, cache, capsys, url):
    status = main(fit_args(tmp_path / "run", cache, "--ckpt_path", url))
    assert status == 2
    assert error_line(capsys) == (
        f"seq2seq-train: error: --ckpt_path {url}: remote checkpoints are refused (they would "
        "be unpickled in full); download the file and give its path")
    with pytest.raises(CheckpointError, match="remote checkpoints are refused"):
        SafeCheckpointIO().load_checkpoint(url, weights_only=False)


def test_asking_for_full_unpickling_is_refused(tmp_path, cache, crafted, capsys):
    path, marker = crafted
    status = main(fit_args(tmp_path / "run", cache, "--ckpt_path", str(path),
                           "--weights_only", "false"))
    assert status == 2
    assert error_line(capsys) == (
        "seq2seq-train: error: --weights_only false: checkpoints are only ever read "
        "weights-only (loading in full could run code from the file)")
    assert not marker.exists()


# ---- 8. empty lines in validation and test data ---------------------------------------------


def test_empty_validation_and_test_lines_are_scored_in_place(tmp_path, monkeypatch):
    corpus = local_corpus(tmp_path / "corpus")
    validation_en = (corpus / "validation.en").read_text(encoding="utf-8").splitlines()
    validation_en[3] = ""  # an empty source
    write_lines(corpus / "validation.en", validation_en)
    test_de = (corpus / "test.de").read_text(encoding="utf-8").splitlines()
    test_de[5] = ""  # an empty reference
    write_lines(corpus / "test.de", test_de)
    scored = []
    real_scores = module_of_training.corpus_scores

    def corpus_scores(hypotheses, references, **kwargs):
        scored.append((hypotheses, references[0]))
        return real_scores(hypotheses, references, **kwargs)

    monkeypatch.setattr(module_of_training, "corpus_scores", corpus_scores)
    root, cache = tmp_path / "run", tmp_path / "cache"
    assert main(local_fit_args(root, corpus, cache, "--trainer.max_epochs", "1")) == 0
    hypotheses, references = scored[-1]
    assert references == (corpus / "validation.de").read_text(encoding="utf-8").splitlines()
    assert len(hypotheses) == 20 and hypotheses[3] == ""
    assert main(["test", *local_fit_args(root, corpus, cache)[1:],
                 "--ckpt_path", str(root / "best.ckpt")]) == 0
    hypotheses, references = scored[-1]
    assert references == test_de and len(hypotheses) == 20


# ---- 13. data errors are one line ---------------------------------------------------------


@pytest.mark.parametrize("fault", ["line counts", "invalid UTF-8"])
def test_a_bad_local_corpus_fails_in_one_line_naming_the_file(tmp_path, capsys, fault):
    corpus = local_corpus(tmp_path / "corpus")
    if fault == "line counts":
        with open(corpus / "train.en", "a", encoding="utf-8") as handle:
            handle.write("one line too many\n")
        expected = (f"{corpus / 'train.en'} has 301 lines but {corpus / 'train.de'} has 300: "
                    "line N of one must translate line N of the other")
    else:
        lines = (corpus / "validation.de").read_bytes().split(b"\n")
        lines[4] = b"Gr\xfc\xdfe"  # Latin-1, not UTF-8
        (corpus / "validation.de").write_bytes(b"\n".join(lines))
        expected = (f"{corpus / 'validation.de'}:5: invalid UTF-8 (invalid start byte at "
                    "byte 3 of the line)")
    status = main(local_fit_args(tmp_path / "run", corpus, tmp_path / "cache"))
    assert status == 1
    assert error_line(capsys) == f"seq2seq-train: error: {expected}"

