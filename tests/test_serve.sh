#!/usr/bin/env bash
# `griffin serve` end to end: servers on ephemeral loopback ports (--port 0,
# the port read from the first line they print), driven with curl and with
# the official OpenAI Node client (tests/node). A tiny random Griffin model
# with the spm_train-made Gemma-like tokenizer (build/spm-fixtures), as
# tests/test_text_cli.c makes.
#
#   - plain and streamed completions and chat: the greedy text equals what
#     `griffin generate --temp 0` and `griffin chat --temp 0` print, the
#     streams are OpenAI's chunks ending with data: [DONE], usage counts;
#     stop strings; /v1/models, /health, /metrics
#   - every malformed request gets its status and an OpenAI error object,
#     and /health answers after each
#   - the API key; 16 concurrent greedy requests, each equal to generate's
#     text of its prompt alone; a client that hangs up frees its slot; a full
#     queue answers 503 with Retry-After; turn 5 of a chat continues turn 4's
#     cached state and says what turns 1-5 say without the cache; resident
#     memory flat over 2,000 requests (not under ASan: its quarantine holds
#     freed memory on purpose; its leak check runs at exit instead); SIGTERM
#     exits 0 within the drain bound
#
# usage: tests/test_serve.sh [BUILD_DIR]   (default build; build-asan for the
#        sanitizer build). Prints one line per failed check and a closing
#        "test_serve: N passed, N failed"; exit status 1 on any failure.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$build/griffin
fixtures=${GRIFFIN_SPM_FIXTURES:-build/spm-fixtures}
py="python3 tests/serve_json.py"
tmp=$(mktemp -d /tmp/griffin-serve.XXXXXX)
passed=0
failed=0
servers=()
asan=0
if ldd "$bin" 2>/dev/null | grep -q libasan; then asan=1; fi
# a sanitizer build is ~10x slower: longer waits (never shorter checks)
slow=1
[ $asan = 1 ] && slow=4

cleanup() {
  for p in "${servers[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); }
fail() { echo "test_serve: FAIL: $*"; failed=$((failed + 1)); }
# check NAME COMMAND...: one test, passing when the command succeeds
check() {
  local name=$1
  shift
  if "$@" >/dev/null 2>"$tmp/check.err"; then pass; else fail "$name: $(head -c 600 "$tmp/check.err")"; fi
}

if [ ! -x "$bin" ]; then echo "test_serve: FAIL: no $bin (make first)"; echo "test_serve: 0 passed, 1 failed"; exit 1; fi
if [ ! -f "$fixtures/gemma_bpe.model" ]; then
  echo "test_serve: FAIL: no $fixtures/gemma_bpe.model (make spm-fixtures)"; echo "test_serve: 0 passed, 1 failed"; exit 1
fi

# ---- models -----------------------------------------------------------------
mkmodel() { # NAME BLOCK_TYPES
  printf '{"vocab_size": 4000, "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 3,
  "num_attention_heads": 2, "lru_width": 64, "attention_window_size": 16, "conv1d_width": 4,
  "logits_soft_cap": 30.0, "block_types": %s}\n' "$2" >"$tmp/$1.json"
  "$bin" init --config "$tmp/$1.json" --out "$tmp/$1" --seed 7 >/dev/null 2>&1 &&
    cp "$fixtures/gemma_bpe.model" "$tmp/$1/tokenizer.model"
}
mkmodel model '["recurrent", "recurrent", "attention"]' || { echo "test_serve: FAIL: griffin init"; exit 1; }
model=$tmp/model

# ---- servers ----------------------------------------------------------------
# start NAME ARGS...: starts a server, sets port_NAME and pid_NAME
start() {
  local name=$1
  shift
  "$bin" serve --model "$model" --port 0 --threads 1 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  local pid=$! port=""
  servers+=("$pid")
  for _ in $(seq 1 $((200 * slow))); do
    port=$(sed -n 's|^griffin serve: listening on http://127\.0\.0\.1:\([0-9][0-9]*\);.*|\1|p' "$tmp/$name.out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    fail "server $name did not start: $(cat "$tmp/$name.err")"
    return 1
  fi
  eval "port_$name=$port; pid_$name=$pid"
}
# stop_within PID SECONDS: SIGTERM, then its exit status (124: still running after SECONDS)
stop_within() {
  local pid=$1 limit=$2
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 $((limit * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      return $?
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  return 124
}

# req PORT METHOD PATH [BODY] [CURL ARGS...]: body into $tmp/body, status into $code
req() {
  local port=$1 method=$2 path=$3 data=${4:-}
  shift 4 2>/dev/null || shift $#
  local args=(-s -o "$tmp/body" -w '%{http_code}' --max-time $((60 * slow)) -X "$method" -D "$tmp/headers")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  code=$(curl "${args[@]}" "$@" "http://127.0.0.1:$port$path")
}
metric() { # PORT NAME
  curl -s --max-time 10 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}
healthy() { # PORT: /health answers 200 {"status":"ok"}
  local c
  c=$(curl -s -o "$tmp/health" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$1/health")
  [ "$c" = 200 ] && grep -q '"status":"ok"' "$tmp/health"
}
# wait_metric PORT NAME VALUE SECONDS
wait_metric() {
  for _ in $(seq 1 $(($4 * 10))); do
    [ "$(metric "$1" "$2")" = "$3" ] && return 0
    sleep 0.1
  done
  echo "$2 is $(metric "$1" "$2") after $4 s, not $3" >&2
  return 1
}
expect() { # WHAT WANT GOT
  [ "$2" = "$3" ] || { echo "$1: wanted '$2', got '$3'" >&2; return 1; }
}

start main --ctx 512 --max-body 65536 --cache-mb 2 || { echo "test_serve: $passed passed, $((failed + 1)) failed"; exit 1; }
P=$port_main
check "startup line names the slots and their state" grep -q ' 16 slots (a .* budget / .* a slot (state + logits) holds [0-9]*, capped at 16); Griffin: .* of recurrent state + .* of local-attention rings (16 positions in 1 layer)' "$tmp/main.out"

# ---- GET endpoints -------------------------------------------------------------
req "$P" GET /health
check "/health" expect "/health status" 200 "$code"
req "$P" GET /v1/models
check "/v1/models" expect "/v1/models id" "model list" "$($py get "$tmp/body" 'd["data"][0]["id"] + " " + d["object"]')"

# ---- completions -----------------------------------------------------------------
prompt="The quick brown fox 123"
"$bin" generate --model "$model" --prompt "$prompt" -n 12 --temp 0 >"$tmp/gen.txt" 2>"$tmp/gen.err"
n_prompt=$(sed -n 's/.*prompt \([0-9]*\) tokens.*/\1/p' "$tmp/gen.err")
body='{"model":"model","prompt":"'"$prompt"'","max_tokens":12,"temperature":0}'
req "$P" POST /v1/completions "$body"
check "completion: 200" expect "status" 200 "$code"
check "completion: the text of griffin generate --temp 0" $py same "$tmp/body" 'd["choices"][0]["text"]' "$tmp/gen.txt"
check "completion: object, usage" expect "object/usage" "text_completion $n_prompt 12 $((n_prompt + 12)) length" \
  "$($py get "$tmp/body" '" ".join(map(str, [d["object"], d["usage"]["prompt_tokens"], d["usage"]["completion_tokens"], d["usage"]["total_tokens"], d["choices"][0]["finish_reason"]]))')"
cp "$tmp/body" "$tmp/plain.json"
req "$P" POST /v1/completions '{"prompt":["'"$prompt"'"],"max_tokens":12,"temperature":0}'
check "completion: a prompt as an array of one string" $py same "$tmp/body" 'd["choices"][0]["text"]' "$tmp/gen.txt"
req "$P" POST /v1/completions "${body%\}},\"stream\":true}"
check "streamed completion: 200, text/event-stream" grep -qi '^content-type: text/event-stream' "$tmp/headers"
check "streamed completion: chunks, [DONE]" expect "finish" length "$($py sse "$tmp/body" text_completion "$tmp/stream.txt")"
check "streamed completion: the plain text" $py equal "$tmp/plain.json" 'd["choices"][0]["text"]' "$tmp/stream.txt"
req "$P" POST /v1/completions "${body%\}},\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
check "streamed completion: usage chunk" expect "finish usage" "length $n_prompt 12" "$($py sse "$tmp/body" text_completion "$tmp/stream.txt")"
# stop strings: the text ends before the first one
stop=$($py get "$tmp/plain.json" 'd["choices"][0]["text"][4:6]')
req "$P" POST /v1/completions '{"prompt":"'"$prompt"'","max_tokens":12,"temperature":0,"stop":["zzzz", "'"$stop"'"]}'
check "completion: stop strings" expect "text before the stop string, stop" "yes stop" \
  "$($py get "$tmp/body" '("yes" if d["choices"][0]["text"] == open("'"$tmp/gen.txt"'").read()[:-1].split("'"$stop"'")[0] else "no: " + repr(d["choices"][0]["text"])) + " " + d["choices"][0]["finish_reason"]')"
# ids given as such
ids=$($bin tokenize --tokenizer "$model/tokenizer.model" <<<"$prompt" | tr ' ' ',')
req "$P" POST /v1/completions '{"prompt":[2,'"$ids"'],"max_tokens":12,"temperature":0}'
check "completion: a prompt of token ids" $py same "$tmp/body" 'd["choices"][0]["text"]' "$tmp/gen.txt"

# ---- chat ---------------------------------------------------------------------
printf 'hello there\n' | "$bin" chat --model "$model" --temp 0 -n 10 >"$tmp/chat.txt" 2>/dev/null
cbody='{"model":"model","messages":[{"role":"user","content":"hello there"}],"max_tokens":10,"temperature":0}'
req "$P" POST /v1/chat/completions "$cbody"
check "chat: 200" expect "status" 200 "$code"
check "chat: the reply of griffin chat --temp 0" $py same "$tmp/body" 'd["choices"][0]["message"]["content"]' "$tmp/chat.txt"
check "chat: object, role" expect "object role" "chat.completion assistant" "$($py get "$tmp/body" 'd["object"] + " " + d["choices"][0]["message"]["role"]')"
cp "$tmp/body" "$tmp/chat.json"
req "$P" POST /v1/chat/completions "${cbody%\}},\"stream\":true}"
check "streamed chat: chunks, [DONE]" $py sse "$tmp/body" chat.completion.chunk "$tmp/stream.txt"
check "streamed chat: the plain reply" $py equal "$tmp/chat.json" 'd["choices"][0]["message"]["content"]' "$tmp/stream.txt"
printf 'hello there\n' | "$bin" chat --model "$model" --temp 0 -n 10 --system "Be brief." >"$tmp/chat-sys.txt" 2>/dev/null
req "$P" POST /v1/chat/completions '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"hello "},{"type":"text","text":"there"}]}],"max_tokens":10,"temperature":0}'
check "chat: a system message, content parts" $py same "$tmp/body" 'd["choices"][0]["message"]["content"]' "$tmp/chat-sys.txt"

# ---- malformed requests: status, error object, and the server unharmed -------------
bad() { # NAME STATUS PATH BODY|@FILE [CURL ARGS...]
  local name=$1 want=$2 path=$3 data=$4
  shift 4
  if [ "${data:0:1}" = @ ]; then
    code=$(curl -s -o "$tmp/body" -w '%{http_code}' --max-time 30 -D "$tmp/headers" -H 'Content-Type: application/json' --data-binary "$data" "$@" "http://127.0.0.1:$P$path")
  else
    req "$P" POST "$path" "$data" "$@"
  fi
  check "$name: status $want" expect "$name status" "$want" "$code"
  check "$name: an OpenAI error object" $py error "$tmp/body"
  check "$name: /health after it" healthy "$P"
}
bad "malformed JSON" 400 /v1/completions '{"prompt": "x", '
bad "not an object" 400 /v1/completions '["prompt"]'
bad "prompt missing" 400 /v1/completions '{"max_tokens": 3}'
bad "prompt a number" 400 /v1/completions '{"prompt": 5}'
bad "two prompts" 400 /v1/completions '{"prompt": ["a", "b"]}'
bad "token id outside the vocabulary" 400 /v1/completions '{"prompt": [2, 4000]}'
bad "temperature a string" 400 /v1/completions '{"prompt": "x", "temperature": "hot"}'
bad "temperature huge" 400 /v1/completions '{"prompt": "x", "temperature": 1e308}'
bad "temperature overflowing" 400 /v1/completions '{"prompt": "x", "temperature": 1e999}'
bad "top_p above 1" 400 /v1/completions '{"prompt": "x", "top_p": 1.5}'
bad "max_tokens negative" 400 /v1/completions '{"prompt": "x", "max_tokens": -1}'
bad "max_tokens zero" 400 /v1/completions '{"prompt": "x", "max_tokens": 0}'
bad "max_tokens fractional" 400 /v1/completions '{"prompt": "x", "max_tokens": 2.5}'
bad "max_tokens a string" 400 /v1/completions '{"prompt": "x", "max_tokens": "10"}'
bad "max_tokens huge" 400 /v1/completions '{"prompt": "x", "max_tokens": 1e300}'
bad "max_tokens past the context" 400 /v1/completions '{"prompt": "x", "max_tokens": 100000}'
check "max_tokens past the context: code" expect code context_length_exceeded "$($py error "$tmp/body")"
bad "stop a number" 400 /v1/completions '{"prompt": "x", "stop": 7}'
bad "stream not a bool" 400 /v1/completions '{"prompt": "x", "stream": "yes"}'
bad "n = 2" 400 /v1/completions '{"prompt": "x", "n": 2}'
bad "seed a string" 400 /v1/completions '{"prompt": "x", "seed": "s"}'
long=$(python3 -c 'print(" ".join(["word%d" % i for i in range(600)]))')
bad "a prompt past --ctx" 400 /v1/completions '{"prompt": "'"$long"'"}'
check "a prompt past --ctx: code" expect code context_length_exceeded "$($py error "$tmp/body")"
printf '{"prompt": "caf\xe9 \xff"}' >"$tmp/bad-utf8.json"
bad "invalid UTF-8" 400 /v1/completions "@$tmp/bad-utf8.json"
printf '{"prompt": "a\xed\xa0\x80b"}' >"$tmp/surrogate.json"
bad "UTF-8 of a surrogate" 400 /v1/completions "@$tmp/surrogate.json"
bad "a lone surrogate escape" 400 /v1/completions '{"prompt": "\ud800"}'
bad "messages missing" 400 /v1/chat/completions '{"prompt": "x"}'
bad "messages empty" 400 /v1/chat/completions '{"messages": []}'
bad "a message's role unknown" 400 /v1/chat/completions '{"messages": [{"role": "wizard", "content": "x"}]}'
bad "a message's content a number" 400 /v1/chat/completions '{"messages": [{"role": "user", "content": 3}]}'
python3 -c 'print("{\"prompt\": \"" + "a" * 70000 + "\"}")' >"$tmp/big.json"
bad "a body over --max-body" 413 /v1/completions "@$tmp/big.json"
bad "a chunked body over --max-body" 413 /v1/completions "@$tmp/big.json" -H 'Transfer-Encoding: chunked'
bad "an unknown path" 404 /v1/nothing '{}'
req "$P" GET /nowhere
check "GET of an unknown path: 404" expect status 404 "$code"
req "$P" GET /v1/completions
check "GET /v1/completions: 405" expect status 405 "$code"
check "405: Allow: POST" grep -qi '^allow: POST' "$tmp/headers"
check "405: an OpenAI error object" $py error "$tmp/body"
req "$P" POST /health '{}'
check "POST /health: 405" expect status 405 "$code"
check "/health after the bad requests" healthy "$P"
req "$P" POST /v1/completions '{"prompt": "x", "max_tokens": 2, "temperature": 0, "logit_bias": {"5": 1}, "user": "u", "foo": {"bar": [1, 2, null]}}'
check "unknown fields are ignored" expect status 200 "$code"

# ---- metrics --------------------------------------------------------------------
curl -s "http://127.0.0.1:$P/metrics" >"$tmp/metrics"
for m in 'griffin_requests_total{endpoint="/v1/completions",status="200"}' \
  'griffin_requests_total{endpoint="/v1/completions",status="400"}' \
  'griffin_requests_total{endpoint="/v1/completions",status="413"}' \
  'griffin_requests_total{endpoint="other",status="404"}' \
  griffin_prompt_tokens_total griffin_generated_tokens_total griffin_slots_in_use griffin_queue_length \
  griffin_time_to_first_token_seconds_count griffin_cache_hits_total; do
  check "/metrics has $m" grep -qF "$m " "$tmp/metrics"
done
check "/metrics: TTFT histogram" grep -q '^griffin_time_to_first_token_seconds_bucket{le="+Inf"} [1-9]' "$tmp/metrics"

# ---- 16 concurrent greedy requests, each equal to its prompt alone ---------------------
# (wait on these only: the servers are background jobs too)
pids=()
for i in $(seq 1 16); do
  p="request number $i: tell me about the number $((i * 7))"
  curl -s --max-time $((60 * slow)) -o "$tmp/got.$i" -H 'Content-Type: application/json' \
    -d '{"prompt":"'"$p"'","max_tokens":24,"temperature":0}' "http://127.0.0.1:$P/v1/completions" &
  pids+=($!)
done
for i in $(seq 1 16); do
  "$bin" generate --model "$model" --prompt "request number $i: tell me about the number $((i * 7))" -n 24 --temp 0 >"$tmp/want.$i" 2>/dev/null
done
wait "${pids[@]}"
same16=0
for i in $(seq 1 16); do
  if $py same "$tmp/got.$i" 'd["choices"][0]["text"]' "$tmp/want.$i" 2>"$tmp/check.err"; then same16=$((same16 + 1)); else cat "$tmp/check.err"; fi
done
check "16 concurrent greedy requests equal griffin generate --temp 0 of each" expect "equal" 16 "$same16"

# ---- the state cache: turn 5 continues turn 4's state ------------------------------------
start nocache --ctx 512 --cache-mb 0 || true
conv() { # PORT TURNS OUT_PREFIX: a 5-turn chat, each request with the whole conversation
  local port=$1 out=$3 msgs='' i
  for i in 1 2 3 4 5; do
    msgs="$msgs${msgs:+,}{\"role\":\"user\",\"content\":\"turn $i: what comes next?\"}"
    curl -s --max-time 60 -o "$out.$i" -H 'Content-Type: application/json' \
      -d '{"messages":['"$msgs"'],"max_tokens":8,"temperature":0}' "http://127.0.0.1:$port/v1/chat/completions"
    if [ "$i" = 4 ]; then cached4=$(metric "$port" griffin_prompt_tokens_cached_total); fi
    local reply
    reply=$($py get "$out.$i" 'json.dumps(d["choices"][0]["message"]["content"])' 2>/dev/null || echo '""')
    msgs="$msgs,{\"role\":\"assistant\",\"content\":$reply}"
  done
}
hits0=$(metric "$P" griffin_cache_hits_total)
conv "$P" 5 "$tmp/cached"
hits1=$(metric "$P" griffin_cache_hits_total)
cached5=$(( $(metric "$P" griffin_prompt_tokens_cached_total) - cached4 ))
ctx4=$($py get "$tmp/cached.4" 'd["usage"]["total_tokens"]')
check "cache: turns 2-5 hit" expect "hits" 4 "$((hits1 - hits0))"
check "cache: turn 5 continued turn 4's whole context" expect "tokens reused" "$ctx4" "$cached5"
if [ -n "${port_nocache:-}" ]; then
  conv "$port_nocache" 5 "$tmp/uncached"
  for i in 1 2 3 4 5; do
    check "cache: turn $i's reply equals the uncached server's" $py samefile <($py get "$tmp/cached.$i" 'd["choices"][0]["message"]["content"]') <($py get "$tmp/uncached.$i" 'd["choices"][0]["message"]["content"]')
  done
  check "no cache: no hits" expect hits 0 "$(metric "$port_nocache" griffin_cache_hits_total)"
  check "no cache: SIGTERM exits 0" stop_within "$pid_nocache" $((10 * slow))
fi

# ---- the API key --------------------------------------------------------------------
start keyed --api-key sekrit-key || true
if [ -n "${port_keyed:-}" ]; then
  req "$port_keyed" POST /v1/completions '{"prompt":"x","max_tokens":2}'
  check "API key: none -> 401" expect status 401 "$code"
  check "API key: an OpenAI error object" expect code invalid_api_key "$($py error "$tmp/body")"
  req "$port_keyed" POST /v1/completions '{"prompt":"x","max_tokens":2}' -H 'Authorization: Bearer wrong-key'
  check "API key: a wrong one -> 401" expect status 401 "$code"
  req "$port_keyed" GET /v1/models '' -H 'Authorization: Bearer sekrit-key'
  check "API key: the right one -> 200" expect status 200 "$code"
  req "$port_keyed" POST /v1/completions '{"prompt":"x","max_tokens":2}' -H 'Authorization: Bearer sekrit-key'
  check "API key: a completion with it -> 200" expect status 200 "$code"
  check "API key: /health needs none" healthy "$port_keyed"
  check "API key server: SIGTERM exits 0" stop_within "$pid_keyed" $((10 * slow))
fi

# ---- the official OpenAI client (Node) ----------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  fail "node client: node and npm are needed (bash tools/install-deps.sh)"
else
  # npm ci when node_modules lacks the locked version of the client
  want=$(python3 -c 'import json; print(json.load(open("tests/node/package-lock.json"))["packages"]["node_modules/openai"]["version"])')
  have=$(python3 -c 'import json; print(json.load(open("tests/node/node_modules/openai/package.json"))["version"])' 2>/dev/null)
  if [ "$want" != "$have" ]; then
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1) || cat "$tmp/npm.log"
  fi
  if node tests/node/client.mjs "http://127.0.0.1:$P/v1" >"$tmp/node.out" 2>&1; then pass; else fail "node client: $(tail -n 5 "$tmp/node.out")"; fi
  cat "$tmp/node.out"
fi

# ---- resident memory over 2,000 requests -------------------------------------------------
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
many() { # PORT N FIRST: N small completions over 4 connections, keep-alive
  local k pids=()
  for k in 0 1 2 3; do
    for i in $(seq $(($3 + k)) 4 $(($3 + $2 - 1))); do
      [ "$i" -gt $(($3 + k)) ] && echo next
      printf 'url = "http://127.0.0.1:%s/v1/completions"\ndata = "{\\"prompt\\":\\"memory %d\\",\\"max_tokens\\":3}"\nheader = "Content-Type: application/json"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$1" "$i"
    done >"$tmp/many.$k"
    curl -s -K "$tmp/many.$k" >"$tmp/many.codes.$k" &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$tmp"/many.codes.? | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'
}
codes=$(many "$P" 200 0)
check "200 requests: all 200" expect codes "200:200 " "$codes"
rss200=$(rss "$pid_main")
codes=$(many "$P" 2000 200)
check "2,000 more requests: all 200" expect codes "200:2000 " "$codes"
rss2200=$(rss "$pid_main")
echo "test_serve: resident memory after 200 requests ${rss200} kB, after 2,200 ${rss2200} kB"
if [ $asan = 1 ]; then
  echo "test_serve: (ASan build: resident memory not compared; the leak check runs at exit)"
else
  # the state cache (--cache-mb 2) is full after 200; allowed: 2 MiB of allocator noise
  check "resident memory flat over 2,000 requests (<= 2048 kB growth)" test $((rss2200 - rss200)) -le 2048
fi

# ---- slots: a client that hangs up, a full queue ----------------------------------------
start busy --slots 1 --queue 1 --ctx 1000000 --drain 1 || true
if [ -n "${port_busy:-}" ]; then
  B=$port_busy
  longreq='{"prompt":"a long one","max_tokens":900000,"ignore_eos":true,"stream":true}'
  curl -sN --max-time 300 -H 'Content-Type: application/json' -d "$longreq" "http://127.0.0.1:$B/v1/completions" >"$tmp/long1" &
  c1=$!
  check "a long stream holds the slot" wait_metric "$B" griffin_slots_in_use 1 $((5 * slow))
  curl -sN --max-time 300 -H 'Content-Type: application/json' -d "$longreq" "http://127.0.0.1:$B/v1/completions" >"$tmp/long2" &
  c2=$!
  check "a second one waits in the queue" wait_metric "$B" griffin_queue_length 1 $((5 * slow))
  req "$B" POST /v1/completions '{"prompt":"x","max_tokens":2}'
  check "queue full: 503" expect status 503 "$code"
  check "queue full: Retry-After" grep -qi '^retry-after: [0-9]' "$tmp/headers"
  check "queue full: an OpenAI error object" $py error "$tmp/body"
  check "queue full: /health" healthy "$B"
  sleep 0.3
  kill "$c1" 2>/dev/null
  t0=$(date +%s.%N)
  check "a client hanging up: its slot goes to the queued one" wait_metric "$B" griffin_queue_length 0 $((2 * slow))
  check "the queued one streams" test -s "$tmp/long2"
  kill "$c2" 2>/dev/null
  check "a client hanging up mid-stream frees its slot at once" wait_metric "$B" griffin_slots_in_use 0 $((2 * slow))
  echo "test_serve: both slots free $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s after the first client hung up"
  check "hang-ups counted" expect cancelled 2 "$(metric "$B" griffin_requests_cancelled_total)"
  # a plain request whose client gives up
  curl -s --max-time 1 -o /dev/null -H 'Content-Type: application/json' -d '{"prompt":"x","max_tokens":900000,"ignore_eos":true}' "http://127.0.0.1:$B/v1/completions"
  check "a plain request whose client gives up frees its slot" wait_metric "$B" griffin_slots_in_use 0 $((2 * slow))
  # SIGTERM with a request running: it is cut at the drain bound (1 s), exit 0
  curl -sN --max-time 300 -H 'Content-Type: application/json' -d "$longreq" "http://127.0.0.1:$B/v1/completions" >"$tmp/long3" &
  c3=$!
  wait_metric "$B" griffin_slots_in_use 1 $((5 * slow)) 2>/dev/null
  t0=$(date +%s)
  check "SIGTERM during a request: exit 0 within the drain bound + 5 s" stop_within "$pid_busy" $((6 * slow))
  echo "test_serve: busy server stopped in $(($(date +%s) - t0)) s (drain 1 s)"
  wait "$c3" 2>/dev/null
  check "SIGTERM: the running stream ends with [DONE]" grep -q '^data: \[DONE\]' "$tmp/long3"
fi

check "main server: SIGTERM exits 0 (and the leak check passes under ASan)" stop_within "$pid_main" $((10 * slow))
[ -s "$tmp/main.err" ] && grep -v '^griffin serve: SIGTERM' "$tmp/main.err" | head -5

echo "test_serve: $passed passed, $failed failed ($build)"
[ "$failed" -eq 0 ]
