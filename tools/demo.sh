#!/usr/bin/env bash
# The no-download demo: initialise a small random Griffin, describe it, and
# sample four sequences from it; then give it a SentencePiece tokenizer
# (trained here by spm_train on generated text, Gemma-style: BPE with byte
# fallback) and prompt it with text. Random weights give random tokens (and,
# with tied embeddings, a strong pull to repeat the last one, hence
# temperature 1 over the whole vocabulary): the point is the pipeline and its
# speed.
set -euo pipefail
bin=${GRIFFIN_BIN:-build/griffin}
out=${DEMO_DIR:-demo/griffin-demo}
"$bin" init --config configs/griffin-demo.json --out "$out" --seed 1
"$bin" info --model "$out"
"$bin" generate --model "$out" --prompt-ids 2,100,200,300 -n 32 --seed 1 --temp 1 --top-k 0 --top-p 1 --batch 4

echo
echo "== tokenizer: spm_train on generated text, then text in and text out"
tok=$out.tokenizer
python3 tests/tokenizer/make_corpus.py "$tok"
spm_train --input="$tok/corpus.txt" --model_prefix="$tok/spm" --model_type=bpe --vocab_size=4000 \
  --normalization_rule_name=identity --add_dummy_prefix=false --remove_extra_whitespaces=false \
  --byte_fallback=true --split_digits=true --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 \
  --user_defined_symbols='<start_of_turn>,<end_of_turn>' --num_threads=2 --minloglevel=2 >/dev/null 2>&1
cp "$tok/spm.model" "$out/tokenizer.model"
echo "Hello, Griffin! 你好 🌍" | tee /dev/stderr | "$bin" tokenize --tokenizer "$out" --pieces
"$bin" generate --model "$out" --prompt "The recurrent state" -n 24 --seed 1 --temp 1 --top-k 0 --top-p 1
