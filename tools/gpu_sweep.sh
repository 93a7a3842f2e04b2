#!/bin/bash
# The training sweep of issue 4, run on a rented GPU (the `device` tool) from the repo root:
#   bash tools/gpu_sweep.sh BUDGET_SECONDS [NAME="train args" ...]   (default: the six runs below)
# Needs runs/ytf68-compact (tools/compact_ytf68.py) and .whl/defusedxml-*.whl carried along.
# Writes $OUT/summary.csv, $OUT/logs.tgz and the KEEP (default 2) best runs' weights, split into
# parts under 16 MB ($OUT/NAME.safetensors.partN; join with cat). $OUT takes 8 files and 64 MiB.
set -u
BUDGET=${1:-420}
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD  # the repo is not installed there
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__, torch.cuda.is_available())"
S="--save-every 20"
shift
if [ $# -gt 0 ]; then RUNS=("$@"); else RUNS=(
  d96-mse="--img-size 96 $S" \
  d96-l1="--img-size 96 --loss l1 $S" \
  d96-wing="--img-size 96 --loss wing $S" \
  p96-mse="--img-size 96 --head pca --pca-components 24 $S" \
  d96-mse-aug15="--img-size 96 --augment-strength 1.5 $S" \
  d128-mse="--img-size 128 $S"
); fi
python3 tools/sweep.py --data ytf68:runs/ytf68-compact --boxes runs/ytf68-compact/boxes.csv \
  --out /tmp/sweep --budget "$BUDGET" --workers 2 "${RUNS[@]}"
cp /tmp/sweep/summary.csv "$OUT/" 2>/dev/null
(cd /tmp/sweep && tar czf "$OUT/logs.tgz" *.log */metrics.csv */best.json */loss_curve.png 2>/dev/null)
python3 - <<'PY'
import csv, os, subprocess
out = os.environ["OUT"]
rows = [r for r in csv.DictReader(open("/tmp/sweep/summary.csv")) if r["val_nme_mean"]]
rows.sort(key=lambda r: float(r["val_nme_mean"]))
for r in rows[: int(os.environ.get("KEEP", 2))]:
    src = f"/tmp/sweep/{r['run']}/best.safetensors"
    subprocess.run(["split", "-b", "15M", "-d", src, f"{out}/{r['run']}.safetensors.part"], check=True)
    print("returned", r["run"], r["val_nme_mean"])
PY
ls -la "$OUT"
