# Shared by the experiment scripts (sourced, not run): the binary, the
# corpus, model configs of the three architectures, and reading griffin's
# outputs. Each script sets `name` before sourcing this.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bin=${GRIFFIN:-build/griffin}
results=experiments/$name/results
mkdir -p "$results"
start_s=$(date +%s)
say() { echo "$name [$(( $(date +%s) - start_s )) s]: $*" >&2; }

# build griffin when the binary is not there (a fresh clone)
if [ ! -x "$bin" ]; then
  say "building griffin"
  make -j"$(nproc)" >&2
fi

# The Debian English corpus, shared by the experiments that need it
# (fetched once; experiments/corpus/fetch_corpus.sh skips what exists).
corpus_dir=${CORPUS:-build/corpus}
fetch_corpus() { GRIFFIN=$bin bash experiments/corpus/fetch_corpus.sh "$corpus_dir" >&2; }

# write_config FILE ARCH VOCAB WIDTH LAYERS HEADS WINDOW [MLP]
# ARCH: mqa (attention blocks only), hawk (recurrent only), griffin (two
# recurrent to one local attention). MLP: the MLP's width (default 3 x
# WIDTH, the paper's expansion); head_dim = WIDTH / HEADS.
write_config() {
  local file=$1 arch=$2 vocab=$3 width=$4 layers=$5 heads=$6 window=$7 mlp=${8:-$(( 3 * $4 ))} types
  case $arch in
    mqa) types='["attention"]' ;;
    hawk) types='["recurrent"]' ;;
    griffin) types='["recurrent", "recurrent", "attention"]' ;;
    *) echo "write_config: unknown architecture $arch" >&2; return 1 ;;
  esac
  cat > "$file" <<EOF
{"vocab_size": $vocab, "hidden_size": $width, "intermediate_size": $(( 2 * mlp )),
 "num_hidden_layers": $layers, "num_attention_heads": $heads, "lru_width": $width,
 "attention_window_size": $window, "conv1d_width": 4, "logits_soft_cap": 30.0,
 "embeddings_scale_by_sqrt_dim": true, "block_types": $types}
EOF
}

# params DIR_OR_CONFIG: the parameter count griffin reports for a model dir
params() { "$bin" info --model "$1" | sed -n 's/^parameters: *\([0-9]*\).*/\1/p'; }

# strip_bos IN OUT: the token file with its BOS tokens (id 2) removed, so the
# held-out documents read as one long text with no resets in it.
strip_bos() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
raw = open(sys.argv[1], 'rb').read()
hlen = struct.unpack('<H', raw[8:10])[0]
header = raw[10:10 + hlen].decode()
width, code = (2, 'H') if "'<u2'" in header else (4, 'i')
data = raw[10 + hlen:]
ids = [i for i in struct.unpack('<%d%s' % (len(data) // width, code), data) if i != 2]
h = "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }" % ('<u2' if width == 2 else '<i4', len(ids))
h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
open(sys.argv[2], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + struct.pack('<%d%s' % (len(ids), code), *ids))
PY
}

# log_column RUN NAME: the column NAME of RUN/log.csv as "step,value" lines,
# only the steps that have it (the held-out ones are empty between evals)
log_column() {
  awk -F, -v want="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == want) c = i; next }
    c && $c != "" { print $1 "," $c }' "$1/log.csv"
}

# eval_masked MODEL DATA_PREFIX SEQ: "token_accuracy,exact_match,loss" of a
# task file by griffin eval --mask
eval_masked() {
  "$bin" eval --model "$1" --data "$2.tokens.npy" --mask "$2.mask.npy" --seq "$3" |
    sed -n 's/^loss \([0-9.]*\) .*token accuracy \([0-9.]*\) .*exact match \([0-9.]*\) .*/\2,\3,\1/p'
}

# plot_done FILE: says where a figure went
plot_done() { say "wrote $1"; }
