#!/usr/bin/env bash
# The no-download demo: initialise a small random Griffin, describe it, and
# sample four sequences from it. Random weights give random tokens (and, with
# tied embeddings, a strong pull to repeat the last one, hence temperature 1
# over the whole vocabulary): the point is the pipeline and its speed.
set -euo pipefail
bin=${GRIFFIN_BIN:-build/griffin}
out=${DEMO_DIR:-demo/griffin-demo}
"$bin" init --config configs/griffin-demo.json --out "$out" --seed 1
"$bin" info --model "$out"
"$bin" generate --model "$out" --prompt-ids 2,100,200,300 -n 32 --seed 1 --temp 1 --top-k 0 --top-p 1 --batch 4
