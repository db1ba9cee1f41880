"""scripts/quality_runs.py end to end at tiny scale on the CPU: a plan of two tiny demo runs
(and one that fails) trained side by side, evaluated with seq2seq-evaluate, tabulated; and
the plan's errors."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from seq2seq.commands.evaluate import main as evaluate_main
from seq2seq.demo.corpus import write_corpus

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "quality_runs.py"
DEMO_CONFIG = str(REPO / "configs" / "demo.yaml")
SEARCH = {"beam_size": 3, "alpha": 1.0, "max_len_a": 1.5, "max_len_b": 10, "min_length": 0,
          "ban_unk": False, "exact_stop": False}
SEARCH_FLAGS = ["--beam-size", "3", "--alpha", "1.0", "--max-len-a", "1.5", "--max-len-b", "10",
                "--min-length", "0"]
TINY = ("--trainer.max_steps 4 --trainer.val_check_interval 2 --trainer.enable_model_summary false "
        "--model.network.embedding_size 16 --model.network.hidden_size 16 "
        "--model.network.maxout_size 8 --data.vocab_size 100 --data.max_tokens 300 "
        "--attention_plots.num_sentences 0")


def load_script():
    spec = importlib.util.spec_from_file_location("quality_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


quality_runs = load_script()


def corpus(directory: Path) -> Path:
    """The demo corpus laid out as Multi30k is: validation under the stem ``val``, the test
    split gzipped."""
    write_corpus(directory, {"train": 300, "validation": 20, "test": 20}, seed=3)
    for lang in ("en", "de"):
        (directory / f"validation.{lang}").rename(directory / f"val.{lang}")
        with open(directory / f"test.{lang}", "rb") as plain, \
                gzip.open(directory / f"test.{lang}.gz", "wb") as packed:
            shutil.copyfileobj(plain, packed)
        (directory / f"test.{lang}").unlink()
    return directory


def write_plan(path: Path, plan: dict) -> Path:
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


def tiny_plan(**changes) -> dict:
    plan = {"runs": [{"name": "a", "config": DEMO_CONFIG, "seed": 1},
                     {"name": "b", "config": DEMO_CONFIG, "seed": 2,
                      "overrides": ["--model.optimization.lr", "0.01"]}],
            "ensembles": [{"name": "ab", "runs": ["a", "b"]}],
            "search": SEARCH, "splits": {"validation": "val", "test": None}}
    return {**plan, **changes}


def script(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.fixture(scope="module")
def quality(tmp_path_factory):
    """One run of the script: runs a and b, a run that fails at once, one that validates
    never (so writes no best.ckpt), the ensemble ab."""
    root = tmp_path_factory.mktemp("quality")
    data = corpus(root / "data")
    broken = {"name": "broken", "config": DEMO_CONFIG, "seed": 3,
              "overrides": ["--trainer.no_such_option", "1"]}
    plan = tiny_plan()
    unvalidated = {"name": "unvalidated", "config": DEMO_CONFIG, "seed": 4,
                   "overrides": ["--trainer.limit_val_batches", "0"]}
    plan["runs"] += [broken, unvalidated]
    plan_path = write_plan(root / "plan.yaml", plan)
    out = root / "out"
    process = script("--plan", str(plan_path), "--data", str(data), "--out", str(out),
                     "--accelerator", "cpu", "--override", TINY,
                     "--override", f"--data.cache_dir {root / 'cache'}", cwd=root)
    stdout, stderr = process.communicate(timeout=600)
    summary = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {"out": out, "data": data, "returncode": process.returncode, "stdout": stdout,
            "stderr": stderr, "summary": summary,
            "runs": {run["name"]: run for run in summary["runs"]}}


@pytest.mark.slow
def test_runs_train_side_by_side_and_a_failed_run_is_reported(quality):
    runs, out = quality["runs"], quality["out"]
    assert quality["returncode"] == 1  # one run failed
    for name in ("a", "b"):
        run = runs[name]
        assert run["status"] == "ok" and run["exit_code"] == 0
        assert run["checkpoints"] == {"best": str(out / name / "best.ckpt"),
                                      "averaged": str(out / name / "averaged.ckpt")}
        log = (out / name / "train.log").read_text()
        assert "`Trainer.fit` stopped: `max_steps=4` reached." in log
        logged = re.search(r"best validation val_bleu: (\S+)", log)[1]
        assert f"{run['best_val_bleu_logged']:.2f}" == logged
        assert (run["epochs"], run["steps"]) == (1, 4)
        assert f"--seed_everything {run['seed']} " in run["command"]
    assert runs["b"]["command"].split("--trainer.enable_progress_bar false ")[1].startswith(
        "--model.optimization.lr 0.01 --trainer.max_steps 4")  # the run's, then every run's
    broken = runs["broken"]
    assert (broken["status"], broken["exit_code"]) == ("failed", 2)
    assert any("no_such_option" in line for line in broken["error"])
    assert "quality_runs.py: run broken failed (exit 2); the end of " \
           f"{out / 'broken' / 'train.log'}:" in quality["stderr"]
    assert broken["evaluations"] == {}
    unvalidated = runs["unvalidated"]
    assert (unvalidated["status"], unvalidated["evaluations"]) == ("ok", {})
    assert (unvalidated["epochs"], unvalidated["steps"]) == (1, 4)
    reason = f"no {out / 'unvalidated' / 'best.ckpt'}: the run finished no validation"
    assert unvalidated["not_evaluated"].startswith(reason)
    assert f"quality_runs.py: unvalidated not evaluated: {reason}" in quality["stderr"]
    started = re.findall(r"started evaluate \S+ (\S+) ", quality["stdout"])
    assert started == ["best"] * 4 + ["ensemble"] * 2 + ["averaged"] * 4  # what a deadline spares
    cpus = set(quality_runs.available_cpus())
    assert all(len(run["cpus"]) >= 1 and set(run["cpus"]) <= cpus for run in runs.values())


@pytest.mark.slow
@pytest.mark.parametrize("model,label,split", [("b", "best", "test"), ("b", "averaged", "val"),
                                               ("ab", "ensemble", "test")])
def test_recorded_scores_are_what_seq2seq_evaluate_gives(quality, capsys, model, label, split):
    """The value check: each recorded score equals seq2seq-evaluate's for the same
    checkpoint(s) and files, called here on its own."""
    out, data = quality["out"], quality["data"]
    checkpoints = [str(out / "b" / f"{label}.ckpt")] if model == "b" else \
        [str(out / "a" / "best.ckpt"), str(out / "b" / "best.ckpt")]
    suffix = ".gz" if split == "test" else ""
    capsys.readouterr()
    assert evaluate_main(["--checkpoint", *checkpoints, "--source", str(data / f"{split}.en{suffix}"),
                          "--references", str(data / f"{split}.de{suffix}"), "--json", "--device",
                          "cpu", *SEARCH_FLAGS]) == 0
    expected = json.loads(capsys.readouterr().out)
    if model == "b":
        records = quality["runs"]["b"]["evaluations"][label]
    else:
        records = quality["summary"]["ensembles"][0]["evaluations"]["ensemble"]
    split_name = "validation" if split == "val" else split
    record = next(record for record in records if record["split"] == split_name)
    assert record["checkpoints"] == checkpoints
    for metric in ("bleu", "chrf", "ter"):
        assert record[metric] == {"score": expected[metric]["score"],
                                  "signature": expected[metric]["signature"]}
    assert expected["chrf"]["score"] > 0  # a real translation was scored, not an empty one
    hypotheses = Path(record["hypotheses"]).read_text().splitlines()
    assert len(hypotheses) == 20


@pytest.mark.slow
def test_ensemble_names_both_checkpoints(quality):
    out = quality["out"]
    ensemble = quality["summary"]["ensembles"][0]
    both = [str(out / "a" / "best.ckpt"), str(out / "b" / "best.ckpt")]
    assert ensemble["name"] == "ab" and ensemble["checkpoints"] == both
    for record in ensemble["evaluations"]["ensemble"]:
        assert f"--checkpoint {both[0]} {both[1]} --source" in record["command"]
    assert [record["split"] for record in ensemble["evaluations"]["ensemble"]] == \
        ["validation", "test"]


@pytest.mark.slow
def test_results_md_is_the_table_of_results_json(quality):
    runs, summary = quality["runs"], quality["summary"]
    table = (quality["out"] / "results.md").read_text()
    assert table in quality["stdout"]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == ("| model | config, seed, overrides | checkpoint(s) | epochs | train wall | "
                       "best val BLEU (greedy, logged) | validation BLEU (beam 3) | "
                       "test BLEU (beam 3) |")

    def score(records, split):
        return f"{next(r for r in records if r['split'] == split)['bleu']['score']:.2f}"

    b = runs["b"]
    assert f"| b | demo, seed 2, `--model.optimization.lr 0.01` | averaged.ckpt | 1 | " \
           f"{quality_runs.minutes(b['wall_seconds'])} | {b['best_val_bleu_logged']:.2f} | " \
           f"{score(b['evaluations']['averaged'], 'validation')} | " \
           f"{score(b['evaluations']['averaged'], 'test')} |" in rows
    assert "| broken | demo, seed 3, `--trainer.no_such_option 1` | failed (exit 2) | – |" in table
    assert "| unvalidated | demo, seed 4, `--trainer.limit_val_batches 0` | not evaluated | 1 |" \
        in table
    records = summary["ensembles"][0]["evaluations"]["ensemble"]
    assert rows[-1] == (f"| ab | ensemble | a/best.ckpt + b/best.ckpt | – | – | – | "
                        f"{score(records, 'validation')} | {score(records, 'test')} |")
    assert len(rows) == 2 + 4 + 2 + 1  # header and rule, a and b twice, the two others, ab
    assert "bleu `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" in table


def bad_plans(tmp_path: Path) -> list[tuple[dict, str]]:
    """(plan, the words its error must hold after the plan's path)."""
    missing = str(tmp_path / "nowhere.yaml")
    plan = tiny_plan()
    return [
        ({**plan, "trainer": {}}, "unknown key(s) ['trainer']"),
        (tiny_plan(runs=[plan["runs"][0], {**plan["runs"][1], "seeds": 3}]),
         "runs[1] (b): unknown key(s) ['seeds']"),
        (tiny_plan(runs=[plan["runs"][0], {**plan["runs"][1], "config": missing}]),
         f"runs[1] (b): config {missing}: no such file"),
        (tiny_plan(runs=[plan["runs"][0], {**plan["runs"][1], "name": "a"}]),
         "runs[1]: duplicate run name 'a' (also runs[0])"),
        (tiny_plan(ensembles=[{"name": "ab", "runs": ["a", "c"]}]),
         "ensembles[0] (ab): unknown run(s) ['c']"),
        (tiny_plan(ensembles=[{"name": "a", "runs": ["a", "b"]}]),
         "ensembles[0]: name 'a' is already a run's"),
        (tiny_plan(search={"beam_size": 0}), "search: seq2seq-evaluate refuses"),
        (tiny_plan(search={"beam": 5}), "search: unknown key(s) ['beam']"),
        (tiny_plan(splits={"validation": "dev"}), "runs[0] (a): "),
    ]


def test_a_bad_plan_is_an_error_naming_the_file_and_entry(tmp_path, capsys):
    data = corpus(tmp_path / "data")
    for number, (plan, words) in enumerate(bad_plans(tmp_path)):
        path = write_plan(tmp_path / f"plan{number}.yaml", plan)
        out = tmp_path / f"out{number}"
        assert quality_runs.main(["--plan", str(path), "--data", str(data), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"quality_runs.py: error: {path}: {words}"), err
        assert len(err.splitlines()) == 1 and not out.exists()  # nothing started


def test_a_missing_data_directory_or_run_name_is_an_error(tmp_path, capsys):
    path = write_plan(tmp_path / "plan.yaml", tiny_plan())
    args = ["--plan", str(path), "--out", str(tmp_path / "out")]
    assert quality_runs.main([*args, "--data", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == \
        f"quality_runs.py: error: --data {tmp_path / 'nowhere'}: no such directory\n"
    assert quality_runs.main([*args, "--data", str(tmp_path), "--runs", "a", "c"]) == 2
    assert capsys.readouterr().err == (f"quality_runs.py: error: --runs: {path} has no run(s) "
                                       "['c']; its runs are ['a', 'b']\n")


def test_the_issue_12_plan_is_valid(monkeypatch):
    monkeypatch.chdir(REPO)
    plan = quality_runs.load_plan("configs/plans/multi30k_quality.yaml")
    names = [run.name for run in plan.runs]
    assert names[:5] == ["att-s1234", "att-s1", "att-s2", "att-s3", "paper-s1234"]
    assert len(names) <= 8
    assert [(e.name, e.runs) for e in plan.ensembles] == \
        [("att-ensemble4", ("att-s1234", "att-s1", "att-s2", "att-s3"))]
    assert plan.search["beam_size"] == 5
    assert plan.splits == {"validation": "val", "test": "test_2016_flickr"}


def test_cpu_shares_split_the_cpus_without_overlap(monkeypatch):
    monkeypatch.setattr(quality_runs, "available_cpus", lambda: list(range(16)))
    assert quality_runs.cpu_shares(7) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11],
                                          [12, 13]]
    assert quality_runs.cpu_shares(2) == [list(range(8)), list(range(8, 16))]
    assert quality_runs.cpu_shares(20)[15:] == [[15], [0], [1], [2], [3]]  # one each, again
    environment = quality_runs.child_environment(2)
    assert environment["OMP_NUM_THREADS"] == environment["MKL_NUM_THREADS"] == "2"
    assert environment["PYTHONPATH"].split(":")[0] == str(REPO)


@pytest.mark.slow
def test_sigterm_stops_the_runs_and_still_writes_the_results(tmp_path):
    data = corpus(tmp_path / "data")
    plan = write_plan(tmp_path / "plan.yaml", tiny_plan(runs=tiny_plan()["runs"][:1],
                                                        ensembles=[]))
    out = tmp_path / "out"
    process = script("--plan", str(plan), "--data", str(data), "--out", str(out),
                     "--accelerator", "cpu", "--override", TINY.replace("max_steps 4", "max_steps 100000"),
                     "--override", "--trainer.max_epochs 100000 --early_stopping.patience 100000",
                     "--override", f"--data.cache_dir {tmp_path / 'cache'}", cwd=tmp_path)
    log = out / "a" / "train.log"
    deadline = time.monotonic() + 120
    while "Seed set to" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    summary = json.loads((out / "results.json").read_text())
    assert summary["stopped_by"] == "SIGTERM"
    assert summary["runs"][0]["status"] == "stopped"
    assert "| a | demo, seed 1 | stopped (exit " in stdout
