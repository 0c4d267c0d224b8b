#!/usr/bin/env bash
# Validation, part 3 (time) on one CUDA GPU, prepared for a lent GPU (not run in this work:
# no GPU was lent). Calibrates the GPU and times the same table in fp32 and bf16 (autocast),
# median of 10 steps after 3 warm-ups, wall clock between synchronisations; about 6 minutes
# on an H100. Writes validation/results/cuda.json ("time") and docs/figures/time_cuda_*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
for dtype in fp32 bf16; do
    python -m costmodel.validation.timing --device cuda --threads 0 --dtype "$dtype" --rounds 1 --repeats 10 \
        --warmup 3 --models resnet18 resnet50 vit_ti_16 vit_s_16 vit_b_16 convnext_tiny --batches 8 32 \
        --output validation/results/cuda.json --plot "docs/figures/time_cuda_${dtype}.png" "$@"
done
