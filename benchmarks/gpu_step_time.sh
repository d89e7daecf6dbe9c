#!/usr/bin/env bash
# The accelerator benchmark, one prepared run: I-JEPA and MAE on ViT-B/16 at 224 px,
# batch 128, mixed bfloat16, on each backend, with the official I-JEPA code beside them
# when IJEPA_SRC is set. Writes benchmarks/results/gpu_{ijepa,mae}_<config>.{json,md}:
# images/s, MFU against PEAK_TFLOPS (790: an H200's dense bf16), peak device memory,
# compile time.
#
#   bash benchmarks/gpu_step_time.sh                      # on the GPU machine
#   CONFIG=tiny BATCH=8 STEPS=3 bash benchmarks/gpu_step_time.sh   # its CPU rehearsal
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-vit_b16}
BATCH=${BATCH:-128}
STEPS=${STEPS:-10}
THREADS=${THREADS:-$(nproc)}
PEAK_TFLOPS=${PEAK_TFLOPS:-790}
BACKENDS=${BACKENDS:-jax tensorflow torch}
for model in ijepa mae; do
  python benchmarks/ijepa_step_time.py --model "$model" --config "$CONFIG" \
    --batch-size "$BATCH" --dtype-policy mixed_bfloat16 --steps "$STEPS" --repeats 1 \
    --jit default --threads "$THREADS" --peak-tflops "$PEAK_TFLOPS" \
    --backends $BACKENDS --name "gpu_${model}_${CONFIG}"
done
