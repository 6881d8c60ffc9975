#!/usr/bin/env python3
"""Load benchmark of `griffin serve` (issue 21, point 7).

For Hawk, Griffin and the MQA Transformer of one size (equal parameter
counts, random weights, as bench/'s figures use), it starts `griffin serve`,
sends streamed completions from C concurrent clients (C in --concurrency) and
measures, per concurrency:
  tokens/s       generated tokens of all clients / wall time of the run
  TTFT p50, p99  time to first token (request sent -> first content chunk)
  ITL p50, p99   inter-token latency (gaps between a request's chunks)
It then runs `griffin bench --model DIR --batches 16` on the same model and
prints the server's tokens/s at concurrency 16 against bench's batch-16
decode figure (the server's overhead).

--fig1b reproduces Figure 1(b) through HTTP instead: for each generation
length N, each model gets as many slots as a memory budget holds for its
weights and N-token states (the MQA Transformer's window is N, so its cache
holds every position; Griffin's is min(--window, N)), capped at --max-slots;
that many clients each ask for N tokens at once (plain responses, greedy,
ignore_eos), and tokens/s is all their tokens over the wall time. The same
shapes, budget and cap go through build/bench/decode_throughput (the
in-process figure, bench/fig_decode_throughput.sh) for comparison. Writes
--fig1b-out (CSV) and a PNG beside it (gnuplot).

Writes a CSV (--out) with a header naming the machine; prints a table.
Python's standard library only; one thread per client (the GIL is released
while a client waits on its socket, and a client does little else)."""
import argparse, csv, http.client, json, os, platform, re, shutil, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(*a):
    print("serve_load:", *a, file=sys.stderr, flush=True)


def num_params(c):
    """The parameter count of a config, as the tensor table counts it."""
    D, E, L, H, W = c["hidden_size"], c["intermediate_size"] // 2, c["lru_width"], c["num_attention_heads"], c["conv1d_width"]
    hd = D // H
    n = c["vocab_size"] * D + D
    for t in c["block_types"]:
        n += 2 * D + 2 * (D * E + E) + E * D + D
        if t == "attention":
            n += D * D + 2 * hd * D + D * D + D
        else:
            n += 2 * (L * D + L) + D * L + D + W * L + L + L + 2 * (L * L // H + L)
    return n


def configs(width, layers, vocab, window):
    """Hawk, Griffin and MQA configs of one parameter count: Griffin's MLP is
    3 x D wide, the others' MLP width is set to match its count."""
    base = dict(vocab_size=vocab, hidden_size=width, num_hidden_layers=layers, num_attention_heads=max(1, width // 128),
                num_key_value_heads=1, attention_window_size=window, conv1d_width=4, lru_width=width,
                logits_soft_cap=30.0, rms_norm_eps=1e-6, rope_theta=10000.0, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    kinds = {"hawk": ["recurrent"], "griffin": ["recurrent", "recurrent", "attention"], "mqa": ["attention"]}
    out = {}
    g = dict(base, block_types=[kinds["griffin"][i % 3] for i in range(layers)], intermediate_size=2 * 3 * width)
    target = num_params(g)
    out["griffin"] = g
    for k in ("hawk", "mqa"):
        best = None
        for e in range(16, 8 * width + 1, 16):
            c = dict(base, block_types=[kinds[k][0]] * layers, intermediate_size=2 * e)
            d = abs(num_params(c) - target)
            if best is None or d < best[0]:
                best = (d, c)
        out[k] = best[1]
    return out


class Server:
    def __init__(self, binary, model, slots, threads, extra, cpus=""):
        args = pin(cpus) + [binary, "serve", "--model", model, "--port", "0", "--slots", str(slots)] + extra
        if threads:
            args += ["--threads", str(threads)]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.search(r"http://([0-9.]+):(\d+)", line)
        if not m:
            self.p.kill()
            raise SystemExit(f"serve_load: griffin serve did not say where it listens: {line!r} {self.p.stderr.read()[:500]}")
        self.host, self.port = m.group(1), int(m.group(2))
        self.banner = line.strip()

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()


def one_request(host, port, body, out):
    """A streamed completion; appends (t_send, [t_chunk...], n_tokens) to out."""
    conn = http.client.HTTPConnection(host, port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        out.append((t0, [], 0, f"HTTP {r.status}: {r.read()[:200]!r}"))
        return
    times, n_tok = [], None
    buf = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            for line in ev.split(b"\n"):
                if not line.startswith(b"data: "):
                    continue
                data = line[6:]
                if data == b"[DONE]":
                    continue
                j = json.loads(data)
                if j.get("usage"):
                    n_tok = j["usage"].get("completion_tokens", n_tok)
                ch = j.get("choices") or []
                if ch and ch[0].get("text", "") != "":
                    times.append(time.perf_counter())
    conn.close()
    out.append((t0, times, n_tok if n_tok is not None else len(times), None))


def metrics(srv):
    """The server's counters (/metrics) as a dict of name -> value."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
    conn.request("GET", "/metrics")
    out = {}
    for line in conn.getresponse().read().decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            k, v = line.split()
            out[k] = float(v)
    conn.close()
    return out


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def run_level(srv, conc, reqs_per_client, prompt, max_tokens):
    results, threads = [], []
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True, "ignore_eos": True,
            "stream_options": {"include_usage": True}}

    def client():
        for _ in range(reqs_per_client):
            one_request(srv.host, srv.port, body, results)

    m0 = metrics(srv)
    t0 = time.perf_counter()
    for _ in range(conc):
        th = threading.Thread(target=client)
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    m1 = metrics(srv)
    d = {k: m1.get(k, 0) - m0.get(k, 0) for k in m1}
    errors = [e for (_, _, _, e) in results if e]
    if errors:
        raise SystemExit(f"serve_load: {len(errors)} requests failed, first: {errors[0]}")
    toks = sum(n for (_, _, n, _) in results)
    ttft = [ts[0] - t for (t, ts, _, _) in results if ts]
    itl = [b - a for (_, ts, _, _) in results for a, b in zip(ts, ts[1:])]
    # the server's own rate: generated tokens over the time its rounds took
    # (the clients share this machine's cores; this leaves them out)
    rs = d.get("griffin_round_seconds_total", 0)
    server = d.get("griffin_generated_tokens_total", 0) / rs if rs > 0 else float("nan")
    batch = d.get("griffin_round_slots_total", 0) / max(1, d.get("griffin_rounds_total", 0))
    return dict(tokens_per_s=toks / wall, server_tok_s=server, mean_batch=batch, ttft_p50=pct(ttft, 50), ttft_p99=pct(ttft, 99), itl_p50=pct(itl, 50),
                itl_p99=pct(itl, 99), requests=len(results), tokens=toks, wall_s=wall)


def weight_bytes(model):
    """Bytes of the model's weight files (F32 here: what the server holds)."""
    return sum(os.path.getsize(os.path.join(model, f)) for f in os.listdir(model) if f.endswith(".safetensors"))


def slot_bytes(binary, model):
    """Bytes of one slot (state + logits), as the server sizes it: from the
    line it prints on start."""
    srv = Server(binary, model, 1, 1, ["--cache-mb", "0"])
    srv.stop()
    m = re.search(r"([0-9.]+) (B|KiB|MiB|GiB) a slot", srv.banner)
    if not m:
        raise SystemExit(f"serve_load: no slot size in {srv.banner!r}")
    return float(m.group(1)) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]


def plain_request(host, port, body, out):
    conn = http.client.HTTPConnection(host, port, timeout=3600)
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        out.append((0, f"HTTP {r.status}: {data[:200]!r}"))
    else:
        out.append((json.loads(data)["usage"]["completion_tokens"], None))
    conn.close()


def fig1b(args, tok, work):
    """Figure 1(b) end to end through HTTP; returns its rows."""
    lengths = [int(x) for x in args.fig1b_lengths.split(",")]
    budget = parse_size(args.budget)
    rows = []
    for n in lengths:
        for name in args.models.split(","):
            window = {"mqa": n, "griffin": min(args.window, n), "hawk": args.window}[name]
            cfg = configs(args.width, args.layers, args.vocab, window)[name]
            d = os.path.join(work, f"{name}_{n}")
            cpath = d + ".json"
            json.dump(cfg, open(cpath, "w"))
            subprocess.run([args.bin, "init", "--config", cpath, "--out", d, "--seed", "1"], check=True, capture_output=True)
            shutil.copy(tok, os.path.join(d, "tokenizer.model"))
            wb, sb = weight_bytes(d), slot_bytes(args.bin, d)
            fits = int((budget - wb) // sb)
            slots = max(1, min(args.max_slots, fits))
            srv = Server(args.bin, d, slots, args.threads, ["--ctx", str(n + 16), "--cache-mb", "0", "--queue", "0"],
                         args.server_cpus)
            try:
                body = {"prompt": "The", "max_tokens": n, "temperature": 0, "ignore_eos": True}
                res, ths = [], []
                m0 = metrics(srv)
                t0 = time.perf_counter()
                for _ in range(slots):
                    th = threading.Thread(target=plain_request, args=(srv.host, srv.port, body, res))
                    th.start()
                    ths.append(th)
                for th in ths:
                    th.join()
                wall = time.perf_counter() - t0
                m1 = metrics(srv)
            finally:
                srv.stop()
            errors = [e for (_, e) in res if e]
            if errors:
                raise SystemExit(f"serve_load: {len(errors)} requests failed, first: {errors[0]}")
            toks = sum(t for (t, _) in res)
            rs = m1.get("griffin_round_seconds_total", 0) - m0.get("griffin_round_seconds_total", 0)
            row = dict(model=name, gen_length=n, window=window if name != "hawk" else 0, params=num_params(cfg), weight_bytes=wb,
                       slot_bytes=int(sb), budget_bytes=budget, slots_fit=fits, slots=slots,
                       limited_by="cap" if fits > args.max_slots else "memory", tokens=toks, wall_s=wall,
                       tokens_per_s=toks / wall, server_tok_s=toks / rs if rs > 0 else float("nan"))
            rows.append(row)
            log(f"fig1b {name} N={n}: {slots} slots ({row['limited_by']}), {toks} tokens in {wall:.1f} s = {row['tokens_per_s']:.0f} tok/s")
    # the in-process figure for the same shapes, budget and cap
    dt = os.path.join(os.path.dirname(args.bin), "bench", "decode_throughput")
    if os.path.exists(dt):
        csv_path = os.path.join(work, "dt.csv")
        cmd = pin(args.server_cpus) + [dt, "--lengths", args.fig1b_lengths, "--budget", args.budget, "--max-batch", str(args.max_slots),
                                       "--width", str(args.width), "--layers", str(args.layers), "--heads", str(max(1, args.width // 128)),
                                       "--vocab", str(args.vocab), "--griffin-window", str(args.window), "--tmp", work, "--out", csv_path]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        subprocess.run(cmd, check=True, capture_output=True)
        inproc = {(r["arch"], int(r["gen_length"])): (float(r["tokens_per_s"]), int(r["batch"])) for r in csv_rows(csv_path)}
        for r in rows:
            tp, b = inproc.get((r["model"], r["gen_length"]), (float("nan"), 0))
            r["inprocess_tok_s"], r["inprocess_batch"] = tp, b
    else:
        log(f"no {dt} (make bench-programs): the in-process column is left out")
        for r in rows:
            r["inprocess_tok_s"], r["inprocess_batch"] = float("nan"), 0
    return rows


def parse_size(s):
    m = re.fullmatch(r"([0-9.]+)([KMG]?)", s)
    if not m:
        raise SystemExit(f"serve_load: --budget {s!r}: give bytes, or a number with K, M or G")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)])


def write_fig1b(args, rows):
    keys = ["model", "gen_length", "window", "params", "weight_bytes", "slot_bytes", "budget_bytes", "slots_fit", "slots", "limited_by",
            "tokens", "wall_s", "tokens_per_s", "server_tok_s", "inprocess_tok_s", "inprocess_batch"]
    os.makedirs(os.path.dirname(args.fig1b_out), exist_ok=True)
    with open(args.fig1b_out, "w") as f:
        f.write(f"# griffin serve, Figure 1(b) through HTTP: {time.strftime('%Y-%m-%d %H:%M')} on {cpu_name()}, {os.cpu_count()} cores;"
                f" width {args.width}, {args.layers} layers, vocabulary {args.vocab}; budget {args.budget}, at most {args.max_slots} slots;"
                f" threads {args.threads or 'default'}; server CPUs {args.server_cpus or 'any'}, clients' {args.client_cpus or 'any'}\n")
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")
    print(f"{'model':8} {'N':>5} {'slots':>6} {'tok/s':>8} {'in-process':>10} {'ratio':>6}")
    for r in rows:
        print(f"{r['model']:8} {r['gen_length']:5d} {r['slots']:6d} {r['tokens_per_s']:8.1f} {r['inprocess_tok_s']:10.1f}"
              f" {r['tokens_per_s'] / r['inprocess_tok_s']:6.2f}")
    plot_fig1b(args, rows)


def plot_fig1b(args, rows):
    png = os.path.splitext(args.fig1b_out)[0] + ".png"
    if not shutil.which("gnuplot"):
        log("no gnuplot: no plot")
        return
    d = tempfile.mkdtemp(prefix="fig1b.")
    for name in ("mqa", "hawk", "griffin"):
        with open(os.path.join(d, name + ".dat"), "w") as f:
            for r in rows:
                if r["model"] == name:
                    f.write(f"{r['gen_length']} {r['tokens_per_s']} {r['slots']} {r['inprocess_tok_s']}\n")
    lens = ", ".join(str(r) for r in sorted({r["gen_length"] for r in rows}))
    gp = f"""set terminal pngcairo size 1400,560 font 'sans,10' noenhanced
set output '{png}'
set multiplot layout 1,2 title 'Figure 1(b) through griffin serve: weights + slots x state <= {args.budget}B, at most {args.max_slots} slots, {os.cpu_count()} cores'
set grid; set key top right; set logscale x 2; set xtics ({lens}); set offsets graph 0.05, graph 0.05, 0, 0
set title 'tokens / s over HTTP (solid), in-process decode_throughput (dashed)'; set xlabel 'tokens generated per request'; set ylabel 'tokens / s'; set yrange [0:*]
plot for [i=1:3] '{d}/'.word('mqa hawk griffin', i).'.dat' using 1:2 with linespoints pt 7 lw 2 lc i title word('mqa hawk griffin', i), \\
     for [i=1:3] '{d}/'.word('mqa hawk griffin', i).'.dat' using 1:4 with linespoints pt 6 lw 1 dt 2 lc i notitle
set title 'slots (concurrent requests)'; set ylabel 'slots'; set logscale y 2; set yrange [*:*]; set key bottom left
plot for [i=1:3] '{d}/'.word('mqa hawk griffin', i).'.dat' using 1:3 with linespoints pt 7 lw 2 lc i title word('mqa hawk griffin', i)
unset multiplot
"""
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)
    shutil.rmtree(d, ignore_errors=True)
    log(f"wrote {png}")


def cpu_name():
    try:
        return re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except Exception:
        return platform.processor() or "?"


def csv_rows(path):
    """The rows of a CSV with a header line (after any '#' comment lines) as dicts of strings."""
    with open(path) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def pin(cpus):
    """taskset's prefix that runs a command on the CPUs of the list ("" = any)."""
    return ["taskset", "-c", cpus] if cpus else []


def bench_batch16(binary, model, threads, cpus=""):
    """griffin bench's batch-16 decode tokens/s for this model (its CSV)."""
    csv_path = os.path.join(os.path.dirname(model), os.path.basename(model) + ".bench.csv")
    args = pin(cpus) + [binary, "bench", "--model", model, "--batches", "16", "--prefill", "8", "--no-train", "--csv", csv_path]
    if threads:
        args += ["--threads", str(threads)]
    subprocess.run(args, capture_output=True, text=True, check=True)
    for row in csv_rows(csv_path):
        if row.get("section") == "decode" and row.get("batch") == "16":
            return float(row["tokens_per_s"])
    raise SystemExit(f"serve_load: no batch-16 decode row in {csv_path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "griffin"))
    ap.add_argument("--models", default="hawk,griffin,mqa")
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--concurrency", default="1,2,4,8,16,32,64")
    ap.add_argument("--requests", type=int, default=2, help="requests per client at each level")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt", default="The quick brown fox jumps over the lazy dog. " * 4,
                    help="the prompt's text, or ids:N[,N...] for token ids sent as they are (no BOS added)")
    ap.add_argument("--tokenizer", default="", help="tokenizer.model for the models (default: build/spm-fixtures' BPE model)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1,
                    help="sittings: each runs griffin bench, then every level once; a level's row keeps its fastest run "
                         "(other load only slows a run down) and the median of its ratios to the bench run of the same sitting")
    ap.add_argument("--server-cpus", default="", help="CPU list (taskset -c) for the server and griffin bench, e.g. 0")
    ap.add_argument("--client-cpus", default="", help="CPU list for the clients, e.g. 1: keeps them off the server's cores")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "serve_load.csv"))
    ap.add_argument("--fig1b", action="store_true", help="reproduce Figure 1(b) through HTTP instead (see above)")
    ap.add_argument("--fig1b-lengths", default="256,512,1024,2048")
    ap.add_argument("--budget", default="256M", help="--fig1b: memory for weights + slots x state (default 256M)")
    ap.add_argument("--max-slots", type=int, default=64, help="--fig1b: cap on the slots (default 64)")
    ap.add_argument("--plot-only", action="store_true", help="--fig1b: redraw the PNG from --fig1b-out's CSV")
    ap.add_argument("--fig1b-out", default=os.path.join(ROOT, "bench", "results", "serve_fig1b.csv"))
    args = ap.parse_args()
    prompt = args.prompt
    if prompt.startswith("ids:"):  # a prompt of token ids, sent as they are (no BOS added)
        try:
            prompt = [int(x) for x in prompt[4:].split(",")]
        except ValueError:
            raise SystemExit(f"serve_load: --prompt {prompt!r}: ids: takes token ids separated by commas, e.g. ids:1602,17")
    tok = args.tokenizer or os.path.join(ROOT, "build", "spm-fixtures", "gemma_bpe.model")
    if not os.path.exists(tok):
        raise SystemExit(f"serve_load: no tokenizer at {tok}: run `make spm-fixtures` or give --tokenizer")
    levels = [int(x) for x in args.concurrency.split(",")]
    if args.client_cpus:
        os.sched_setaffinity(0, {int(x) for x in args.client_cpus.split(",")})
    work = tempfile.mkdtemp(prefix="serve_load.")
    if args.fig1b and args.plot_only:
        rows = csv_rows(args.fig1b_out)
        for r in rows:
            for k in ("gen_length", "slots"):
                r[k] = int(r[k])
            for k in ("tokens_per_s", "inprocess_tok_s"):
                r[k] = float(r[k])
        plot_fig1b(args, rows)
        return
    if args.fig1b:
        try:
            rows = fig1b(args, tok, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        write_fig1b(args, rows)
        return
    rows = []
    try:
        cfgs = configs(args.width, args.layers, args.vocab, args.window)
        for name in args.models.split(","):
            d = os.path.join(work, name)
            cpath = os.path.join(work, name + ".json")
            json.dump(cfgs[name], open(cpath, "w"))
            subprocess.run([args.bin, "init", "--config", cpath, "--out", d, "--seed", "1"], check=True, capture_output=True)
            shutil.copy(tok, os.path.join(d, "tokenizer.model"))
            srv = Server(args.bin, d, max(levels), args.threads, [], args.server_cpus)
            log(f"{name}: {num_params(cfgs[name]) / 1e6:.1f}M parameters; {srv.banner}")
            try:
                run_level(srv, 1, 1, prompt, 4)  # warm-up
                # Sittings interleaved: griffin bench (the server idle), then
                # each level, --repeat times, so that each level's run has a
                # bench run of the same minute to be compared with (this VM
                # drifts by +-15 % over minutes).
                b16s, runs = [], {c: [] for c in levels}
                for _ in range(args.repeat):
                    b16s.append(bench_batch16(args.bin, d, args.threads, args.server_cpus))
                    for c in levels:
                        runs[c].append(run_level(srv, c, args.requests, prompt, args.max_tokens))
                for c in levels:
                    r = max(runs[c], key=lambda x: x["tokens_per_s"])
                    pair = sorted(x["tokens_per_s"] / b for x, b in zip(runs[c], b16s))
                    spair = sorted(x["server_tok_s"] / b for x, b in zip(runs[c], b16s))
                    r.update(model=name, concurrency=c, bench_b16_tok_s=max(b16s), pair_e2e_median=statistics.median(pair),
                             pair_e2e_min=pair[0], pair_e2e_max=pair[-1], pair_server_median=statistics.median(spair))
                    rows.append(r)
                    log(f"{name} c={c}: {r['tokens_per_s']:.1f} tok/s, TTFT p50 {r['ttft_p50'] * 1e3:.1f} ms"
                        f" p99 {r['ttft_p99'] * 1e3:.1f} ms, ITL p50 {r['itl_p50'] * 1e3:.1f} ms p99 {r['itl_p99'] * 1e3:.1f} ms")
            finally:
                srv.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    cpu = platform.processor() or "?"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except Exception:
        pass
    with open(args.out, "w") as f:
        f.write(f"# griffin serve load: {time.strftime('%Y-%m-%d %H:%M')} on {cpu}, {os.cpu_count()} cores;"
                f" width {args.width}, {args.layers} layers, vocabulary {args.vocab}, window {args.window};"
                f" prompt {args.prompt[:48]!r}; {args.max_tokens} tokens per request, greedy, streamed; threads {args.threads or 'default'};"
                f" server CPUs {args.server_cpus or 'any'}, clients' {args.client_cpus or 'any'}; best of {args.repeat} interleaved sittings\n")
        keys = ["model", "concurrency", "requests", "tokens", "wall_s", "tokens_per_s", "server_tok_s", "mean_batch", "ttft_p50", "ttft_p99", "itl_p50",
                "itl_p99", "bench_b16_tok_s", "pair_e2e_median", "pair_e2e_min", "pair_e2e_max", "pair_server_median"]
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")
    print(f"{'model':8} {'conc':>4} {'tok/s':>9} {'server':>9} {'batch':>6} {'TTFT p50':>9} {'p99':>8} {'ITL p50':>8} {'p99':>8}"
          f"  bench b16  e2e/b16 server/b16  pairs: e2e median [min, max], server median")
    for r in rows:
        b = r["bench_b16_tok_s"]
        print(f"{r['model']:8} {r['concurrency']:4d} {r['tokens_per_s']:9.1f} {r['server_tok_s']:9.1f} {r['mean_batch']:6.1f}"
              f" {r['ttft_p50'] * 1e3:7.1f}ms {r['ttft_p99'] * 1e3:7.1f}ms {r['itl_p50'] * 1e3:7.1f}ms {r['itl_p99'] * 1e3:7.1f}ms"
              f"  {b:9.1f}  {r['tokens_per_s'] / b:6.2f}  {r['server_tok_s'] / b:6.2f}"
              f"   {r['pair_e2e_median']:.2f} [{r['pair_e2e_min']:.2f}, {r['pair_e2e_max']:.2f}], {r['pair_server_median']:.2f}")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
