#!/usr/bin/env bash
# The no-download demo: initialise a small random Griffin, describe it, and
# generate from it. (Random weights: the tokens are noise; the point is the
# pipeline and its speed.)
set -euo pipefail
bin=${GRIFFIN_BIN:-build/griffin}
out=${DEMO_DIR:-demo/griffin-demo}
"$bin" init --config configs/griffin-demo.json --out "$out" --seed 1
"$bin" info --model "$out"
"$bin" generate --model "$out" --prompt-ids 2,100,200,300 -n 64 --seed 1
