#!/usr/bin/env bash
# The training result of docs/training.md: a 5.9M-parameter Griffin (configs/griffin-demo.json)
# trained for 900 steps (about 15 minutes on 2 cores) on the Debian corpus,
# then evaluated on every held-out window and its loss curve plotted.
#
# usage: experiments/train_15min.sh [OUTDIR (default build/train-15min)]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/train-15min}
bin=${GRIFFIN_BIN:-build/griffin}
GRIFFIN=$bin bash experiments/corpus/fetch_corpus.sh "$out/corpus"
baseline=$(sed -n 's/.*unigram baseline on val \([0-9.]*\).*/\1/p' "$out/corpus/prepare.txt")
rm -rf "$out/run"
"$bin" train --config configs/griffin-demo.json --data "$out/corpus/train.npy" --val "$out/corpus/val.npy" \
  --tokenizer "$out/corpus/tokenizer.model" --out "$out/run" --steps 900 --batch 8 --seq 256 --lr 2e-3 \
  --warmup 50 --eval-every 100 --eval-windows 64 --save-every 300 --seed 1
"$bin" eval --model "$out/run/latest" --data "$out/corpus/val.npy" --seq 256 --per-position --buckets 4
echo "unigram baseline: $baseline nats/token"
bash tools/plot_loss.sh "$out/run" "$out/run/loss.png" "$baseline"
