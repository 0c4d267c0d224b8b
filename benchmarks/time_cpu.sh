#!/usr/bin/env bash
# Validation, part 3 (time) on this CPU: calibrate, then time a training step of each case
# (median of 5 after 1 warm-up) and compare with the roofline prediction, in ROUNDS rounds (default 1;
# each round calibrates again, so each prediction uses a profile measured minutes before
# its measurement). One thread, process CPU time, glibc heap reuse; about 20 minutes a round here,
# on an otherwise idle machine.
# Writes validation/results/cpu.json ("time") and docs/figures/time_cpu.png.
set -euo pipefail
cd "$(dirname "$0")/.."
nice python -m costmodel.validation.timing --device cpu --threads 1 --rounds "${ROUNDS:-1}" --repeats 5 --warmup 1 \
    --models resnet18 resnet50 vit_ti_16 vit_s_16 vit_b_16 convnext_tiny swin_t efficientnet_b0 --batches 8 32 \
    --output validation/results/cpu.json --plot docs/figures/time_cpu.png "$@"
