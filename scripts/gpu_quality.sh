#!/usr/bin/env bash
# The Multi30k quality runs of issue #12 (configs/plans/multi30k_quality.yaml) in one call on the
# GPU machine: every run trains side by side on its one GPU, then all are evaluated with
# beam 5, and the results come back in $OUT:
#   results.json, results.md        (scripts/quality_runs.py's)
#   logs.tar.gz                     (every train.log, metrics.csv, config.yaml, and the
#                                    evaluations' logs, scores and translations)
#   gpu_quality.log                 (this script's whole output)
# Checkpoints stay on the machine (about 60 MB each, over what comes back).
#
# Usage, from the repo root:  bash scripts/gpu_quality.sh DATA_DIR [quality_runs.py options]
#   DATA_DIR: a copy of ../shared/data/multi30k inside the repo, carried (.m30k, ignored
#   through .git/info/exclude, made just before the call: cp -r ../shared/data/multi30k .m30k)
#   Further options go to quality_runs.py after its defaults (the last given wins):
#   --runs att-s1234 paper-s1234, --override "--data.num_workers 1", ...
# Environment: MAX_TIME (--trainer.max_time of each run, default 00:00:06:00), BUDGET
# (seconds this script may take in all, default 540: at BUDGET quality_runs.py is sent
# SIGTERM, stops what still runs and writes the results it has), ACCELERATOR (default gpu;
# cpu tries the script on a machine without one).
#
# The device's python3 has torch, pytorch-lightning, sentencepiece, sacrebleu, pyyaml and
# most of our dependencies, but not datasets (nor its dill and multiprocess) and not
# jsonargparse (nor docstring_parser and typeshed_client, its "signatures" extra, which
# LightningCLI needs); fsspec is carried at the version datasets 5.2.0 allows (<= 2026.9.0).
# Fetch them into .whl/ here (pure-Python wheels, about 2 MB) and carry .whl:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl datasets==5.2.0 dill==0.4.1 \
#     multiprocess==0.70.19 fsspec==2026.9.0 jsonargparse==4.53.0 docstring_parser==0.18.0 \
#     typeshed_client==2.15.0
# The device call (run, with carry [".whl", ".m30k"], timeout_s 600):
#   bash scripts/gpu_quality.sh .m30k

set -uo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: bash scripts/gpu_quality.sh DATA_DIR [quality_runs.py options]" \
         "(DATA_DIR: the Multi30k files, e.g. .m30k)" >&2
    exit 2
fi
DATA=$1
shift
OUT=${OUT:-/tmp/quality_out}
RESULTS=${RESULTS:-/tmp/quality}
MAX_TIME=${MAX_TIME:-00:00:06:00}
BUDGET=${BUDGET:-540}
ACCELERATOR=${ACCELERATOR:-gpu}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_quality.log") 2>&1

echo "== machine ($(date -Is), $(nproc) CPUs)"
if [ "$ACCELERATOR" = gpu ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
        || echo "nvidia-smi: not there or failed (torch decides below)"
    python3 -c 'import sys, torch
ok = torch.cuda.is_available()
print("torch", torch.__version__, "CUDA", torch.version.cuda, "sees:",
      torch.cuda.get_device_name(0) if ok else "no GPU")
sys.exit(0 if ok else 3)' || { echo "no usable GPU: stopping"; exit 3; }
fi

echo "== packages"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "installing .whl/ failed"; exit 4; }
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "no .whl/ carried: using the image's packages only"
    export PYTHONPATH=$PWD
fi
python3 - <<'EOF' || { echo "seq2seq cannot be imported here: stopping"; exit 4; }
"""Versions, and any declared requirement of ours or of the carried wheels not met."""
import importlib.metadata as metadata
from packaging.requirements import Requirement

for dist in ("datasets", "jsonargparse", "pytorch-lightning", "torch", "huggingface-hub",
             "fsspec", "pyarrow", "sacrebleu", "sentencepiece"):
    try:
        print(f"{dist} {metadata.version(dist)}", end="; ")
    except metadata.PackageNotFoundError:
        print(f"{dist} MISSING", end="; ")
print()
for dist in ("datasets", "jsonargparse", "multiprocess", "typeshed_client"):
    for text in metadata.requires(dist) or []:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            print(f"warning: {dist} needs {requirement}, not installed")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            print(f"warning: {dist} needs {requirement}, found {version}")
import seq2seq.cli, seq2seq.commands.evaluate  # noqa: E401,F401  (what the runs import)
print("import seq2seq.cli, seq2seq.commands.evaluate: ok")
EOF

echo "== runs (MAX_TIME $MAX_TIME, stopped at ${BUDGET} s of this script; now ${SECONDS} s)"
rm -rf "$RESULTS"
left=$((BUDGET - SECONDS))
[ "$left" -gt 60 ] || left=60
timeout -k 40 -s TERM "$left" \
    python3 scripts/quality_runs.py --plan configs/plans/multi30k_quality.yaml --data "$DATA" \
    --out "$RESULTS" --accelerator "$ACCELERATOR" --max-time "$MAX_TIME" "$@"
status=$?
echo "== quality_runs.py exit status $status after ${SECONDS} s"

for name in results.json results.md; do
    cp "$RESULTS/$name" "$OUT/" 2>/dev/null || echo "no $RESULTS/$name"
done
(cd "$RESULTS" 2>/dev/null && find . -maxdepth 4 \( -name train.log -o -name config.yaml \
    -o -name metrics.csv -o -path '*/eval/*' \) -type f -print0 \
    | tar -czf "$OUT/logs.tar.gz" --null -T -) || echo "no logs to pack"
ls -la "$OUT"
exit $status
