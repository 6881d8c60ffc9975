#!/usr/bin/env python3
"""An analytic model of data-parallel training at RecurrentGemma's shapes.

A model, not a measurement: every number comes from the shapes in configs/
and the assumptions below, and nothing here runs MPI. It prices the
gradient exchange that griffin's data-parallel training does (F32
gradients reduce-scattered to the owners of ZeRO-1 shards, AdamW on each
shard, F32 parameters all-gathered back) against the time of the backward
it can hide behind, for 8 to 1,024 ranks over 100 and 400 Gb/s links; the
memory of a rank, and so where data parallelism alone stops fitting or
scaling; and the traffic of the paper's model parallelism (§4.1: the MLP
split Megatron-style, the RG-LRU's block-diagonal gates split by head).

  python3 bench/dp_scaling_model.py              the tables; CSV to bench/results/
  python3 bench/dp_scaling_model.py --csv FILE   the CSV elsewhere ('-': none)
  python3 bench/dp_scaling_model.py --params CONFIG.json
                                                 only the parameter count by
                                                 part, as `griffin info --config`
                                                 prints it (tests/check_dp_model.sh)

Python 3 and its standard library only. docs/distributed.md ("Scaling
model") states the assumptions and reads the tables.
"""
import argparse
import csv
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- assumptions (docs/distributed.md repeats them) ----------------------
ALPHA = 5e-6                     # s per message (one hop of a ring)
LINKS_GBIT = (100, 400)          # per-rank link, each direction, full-bisection fabric
NVLINK_GBYTE = 450               # an intra-node link for the tensor-parallel table, GB/s per direction
RANKS = [8 << k for k in range(8)]   # 8 .. 1024
SEQ = 2048                       # the paper's training sequence length
RANK_TOKENS = (1 * SEQ, 2 * SEQ, 4 * SEQ)  # per-rank batch: 1, 2 and 4 sequences
GLOBAL_TOKENS = (1 << 20, 1 << 22)   # assumed global batches: 1M and 4M tokens
F32 = 4                          # bytes: gradients, parameters, activations, moments
# Two kinds of rank. The accelerator is hypothetical for griffin (which trains
# on CPUs in F32); it stands for what the paper's TPUs or a GPU would do. The
# CPU node scales this repository's own measurement: docs/training.md, 69
# GFLOP/s of useful training arithmetic on 2 Zen 5 cores, taken linearly to 64.
PROFILES = {
    "accel": dict(flops=400e12 * 0.40, mem=80e9,
                  what="accelerator: 400 TFLOP/s peak at 40 % MFU = 160 TFLOP/s, 80 GB"),
    "cpu": dict(flops=64 * 69e9 / 2, mem=512e9,
                what="CPU node: 64 cores x 34.5 GFLOP/s (griffin's measured rate) = 2.2 TFLOP/s, 512 GB"),
}
TP_DEGREES = (1, 2, 4, 8)


# ---- shapes ----------------------------------------------------------------
class Shape:
    """RecurrentGemma's shape from a Hugging Face (or griffin) config.json, read
    as shared/spec/model.md defines it: E = intermediate_size / 2, L = lru_width
    (default D), hd = D / H, one key/value head, layer i attention iff the
    block_types pattern cycled over the layers says so."""

    def __init__(self, path):
        with open(path) as f:
            c = json.load(f)
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.V = c["vocab_size"]
        self.D = c["hidden_size"]
        self.E = c["intermediate_size"] // 2
        self.n_layers = c["num_hidden_layers"]
        self.H = c["num_attention_heads"]
        self.hd = c.get("head_dim") or self.D // self.H
        self.L = c.get("lru_width") or self.D
        self.W = c.get("conv1d_width", 4)
        self.window = c.get("attention_window_size", 2048)
        pattern = c.get("block_types") or c.get("_block_types")
        self.types = [pattern[i % len(pattern)] for i in range(self.n_layers)]

    # parameters of each part, tensor by tensor (shared/spec/model.md §8)
    def mlp(self):
        D, E = self.D, self.E
        return 2 * D * E + 2 * E + D * E + D + D          # up (2 branches), down, channel_pre_norm

    def recurrent(self):
        D, L, H, W = self.D, self.L, self.H, self.W
        bw = L // H
        return (2 * (L * D + L) + D * L + D              # linear_x, linear_y, linear_out
                + W * L + L + L                          # conv1d w, b; a_param
                + 2 * (H * bw * bw + L) + D)             # input / a gates; temporal_pre_norm

    def attention(self):
        D, hd = self.D, self.hd
        return D * D + 2 * hd * D + D * D + D + D       # q, k, v, proj_final (+bias); pre-norm

    def embedding(self):
        return self.V * self.D + self.D                 # tied table + final_norm

    def layer(self, i):
        t = self.recurrent() if self.types[i] == "recurrent" else self.attention()
        return t + self.mlp()

    def params(self):
        return self.embedding() + sum(self.layer(i) for i in range(self.n_layers))

    def parts(self):
        nr = self.types.count("recurrent")
        na = self.n_layers - nr
        return dict(embedding=self.embedding(), recurrent=nr * self.recurrent(),
                    attention=na * self.attention(), mlp=self.n_layers * self.mlp())

    # ---- tensor parallelism of degree t (t = 1: none) ----------------------
    def params_tp(self, t):
        """Parameters one rank of a tensor-parallel group of t holds: the
        matrices split (MLP up by column, down by row; the recurrent block's
        linear_x / linear_y by column, linear_out by row, its conv, a_param and
        block-diagonal gates by channel / head; attention's queries and
        proj_final by head; the embedding by vocabulary), while norms, the
        row-split layers' output biases and MQA's single key/value head are
        replicated. ceil(): a split that is not even costs the largest part."""
        D, E, L, H, W, hd = self.D, self.E, self.L, self.H, self.W, self.hd
        c = lambda n: -(-n // t)
        bw = L // H
        Lt = c(H) * bw                                  # the channels follow their heads
        mlp = 3 * D * c(E) + 2 * c(E) + D + D
        rec = (2 * (Lt * D + Lt) + D * Lt + D + W * Lt + 2 * Lt
               + 2 * (c(H) * bw * bw + Lt) + D)
        att = 2 * c(H) * hd * D + 2 * hd * D + D + D
        emb = c(self.V) * D + D
        return emb + sum((rec if ty == "recurrent" else att) + mlp for ty in self.types)

    def act_floats_per_token(self, t=1):
        """Floats the training arena keeps per token: src/train/backprop.c
        carve(), per layer x_in, xn1, x_mid, xn2 (D each), g, u (E), then
        yp, xb, xc, gi, ga, h (L) for a recurrent block or q, o (D), k, v
        (hd), lse (H) for attention; then x_final, xf and the backward's
        work rows (ds, dn, tmp, e1, e2, l1..l4, dq, dk, dv, att_stats,
        rstd). Under tensor parallelism of t the per-channel ones split and
        the residual stream's stay whole (no sequence parallelism)."""
        D, E, L, H, hd = self.D, self.E, self.L, self.H, self.hd
        c = lambda n: -(-n // t)
        Lt = c(H) * (L // H)
        n = 0
        for ty in self.types:
            n += 4 * D + 2 * c(E)
            n += 6 * Lt if ty == "recurrent" else 2 * c(H) * hd + 2 * hd + c(H)
        return n + 2 * D + 3 * D + 2 * c(E) + 4 * Lt + c(H) * hd + 2 * hd + c(H) + 1

    def act_fixed_floats(self, tokens):
        """The arena's parts that do not grow with the tokens past a chunk:
        the logits of 4M floats' worth of rows (at least 64; backprop.c
        logit_rows) and their loss pairs. The attention score scratch (a few
        MB, one slot per thread) is left out."""
        rows = min(max((1 << 22) // self.V, 64), tokens)
        return rows * self.V + 2 * rows

    # ---- arithmetic -----------------------------------------------------------
    def att_keys(self, T):
        """Mean keys a query attends to in a sequence of T: min(t + 1, w + 1)."""
        w = self.window
        return sum(min(t + 1, w + 1) for t in range(T)) / T

    def fwd_flops_per_token(self, i, T=SEQ):
        """Forward FLOPs of layer i per token: 2 per weight, plus attention's
        scores and weighted values (4 H hd per key)."""
        f = 2 * self.layer(i)
        if self.types[i] == "attention":
            f += 4 * self.H * self.hd * self.att_keys(T)
        return f

    def head_fwd_flops_per_token(self):
        return 2 * self.V * self.D                      # the tied unembedding


# ---- the exchange ----------------------------------------------------------
def buckets(s):
    """Gradient buckets in the flat parameter vector's order (model tensors
    first: the embedding with final_norm, then layer 0 .. n-1, as
    src/model/tensors.c lays them out): (name, offset, parameters)."""
    out, off = [("embedding", 0, s.embedding())], s.embedding()
    for i in range(s.n_layers):
        out.append(("layer%d" % i, off, s.layer(i)))
        off += s.layer(i)
    return out


def allreduce_ring(nbytes, N, bw):
    """Ring all-reduce (reduce-scatter + all-gather): 2(N-1) hops."""
    return 2 * (N - 1) * ALPHA + 2 * (N - 1) / N * nbytes / bw


def allreduce_bound(nbytes, N, bw):
    """Bandwidth lower bound of any all-reduce: each rank must send and
    receive 2(N-1)/N of the vector."""
    return 2 * (N - 1) / N * nbytes / bw


def backward_timeline(s, M, flops):
    """When each bucket's gradient is complete, counting from the backward's
    start: the unembedding's backward first (4 V D FLOPs a token), then the
    layers from the top down (backward = 2 x forward); the embedding's
    gradient is complete only at the very end, after the input lookup's
    rows are added. Returns (ready times by bucket name, t_head, t_backward)."""
    t = 4 * s.V * s.D * M / flops
    t_head, ready = t, {}
    for i in reversed(range(s.n_layers)):
        t += 2 * s.fwd_flops_per_token(i) * M / flops
        ready["layer%d" % i] = t
    ready["embedding"] = t
    return ready, t_head, t


def forward_time(s, M, flops):
    return (sum(s.fwd_flops_per_token(i) for i in range(s.n_layers))
            + s.head_fwd_flops_per_token()) * M / flops


# The variants of the exchange the step table compares (docs/distributed.md):
#   described  the design as specified: rank r owns the contiguous r-th 1/N of
#              the flat vector; per-layer buckets; the embedding's bucket last;
#              the all-gather after the update, overlapped with nothing
#   bucketed   the same, but every bucket split N ways (rank r owns the r-th
#              1/N of each bucket), so a bucket's traffic spreads over all links
#   improved   bucketed, plus the embedding's gradient sent in two parts (the
#              unembedding's dense part when the head's backward ends, the
#              input lookup's rows at the end) and the all-gather overlapped
#              with the next forward in the order it needs the parameters
SCHEMES = {
    "described": dict(shards="contiguous", split_embedding=False, ag_overlap=False),
    "bucketed": dict(shards="bucket", split_embedding=False, ag_overlap=False),
    "improved": dict(shards="bucket", split_embedding=True, ag_overlap=True),
}


def exchange(s, N, bw, M, flops, shards, split_embedding, ag_overlap):
    """Prices one step's exchange on top of the backward's timeline. Each
    rank sends every owner its slice of a bucket directly (N-1 messages in
    flight together: alpha once per bucket) and each owner sums what it
    receives. A rank's outbound link carries its slices of the buckets in
    the order they become ready; an owner's inbound link carries (N-1) x its
    part of each bucket. With contiguous shards a bucket's owners are the
    few ranks whose shard it overlaps, so their inbound links carry the
    whole bucket N-1 times over; with per-bucket shards every rank takes
    1/N of it. After the last bucket: the clip's global norm (a scalar
    all-reduce, 2 log2 N hops; griffin clips by the global norm, so no
    shard can be updated before every bucket is summed), the update (not
    priced: 28 bytes of memory traffic a parameter of the shard), and the
    all-gather of the F32 parameters.
    Returns (exposed reduce-scatter, exposed all-gather, hidden) where
    hidden says whether the buckets complete before the backward's end were
    all summed by then."""
    P = s.params()
    ready, t_head, t_b = backward_timeline(s, M, flops)
    items = []                                   # (ready, offset, size) in the flat vector
    for name, off, n in buckets(s):
        if name == "embedding" and split_embedding:
            items.append((t_head, off, n))
            items.append((t_b, off, min(M, s.V) * s.D))  # the looked-up rows, again
        else:
            items.append((ready[name], off, n))
    items.sort(key=lambda x: x[0])
    shard = P / N
    inbound = {}
    out_free = 0.0
    finish, early_done = 0.0, 0.0
    for r, off, n in items:
        out_free = max(out_free, r) + (N - 1) / N * n * F32 / bw
        done = out_free
        if shards == "bucket":
            parts = [(0, n / N)]                 # every owner alike: one link stands for all
        else:
            j0, j1 = int(off // shard), min(N - 1, int((off + n - 1) // shard))
            parts = [(j, min(off + n, (j + 1) * shard) - max(off, j * shard)) for j in range(j0, j1 + 1)]
        for j, part in parts:
            f = max(inbound.get(j, 0.0), r) + ALPHA + (N - 1) * part * F32 / bw
            inbound[j] = f
            done = max(done, f)
        finish = max(finish, done)
        if r < t_b:
            early_done = max(early_done, done)
    norm = 2 * math.ceil(math.log2(N)) * ALPHA
    rs_exposed = max(0.0, finish - t_b) + norm
    if not ag_overlap:
        n_msgs = 1 if shards == "contiguous" else len(items)
        return rs_exposed, n_msgs * ALPHA + (N - 1) / N * P * F32 / bw, early_done <= t_b
    # the next forward: the batch's embedding rows first, layer 0 .. n-1, the
    # whole table for the head; each gather must end before its part is used
    need = [(0.0, min(M, s.V) * s.D)]
    c = 0.0
    for i in range(s.n_layers):
        need.append((c, s.layer(i)))
        c += s.fwd_flops_per_token(i) * M / flops
    need.append((c, s.embedding()))
    gathered, delay = 0.0, 0.0
    for when, n in need:
        gathered += ALPHA + (N - 1) / N * n * F32 / bw
        delay = max(delay, gathered - when)
    return rs_exposed, delay, early_done <= t_b


def ring_latency_per_step(s, N):
    """What a ring reduce-scatter and all-gather of every bucket would add
    in latency alone: 2 (N-1) hops a bucket."""
    return (s.n_layers + 1) * 2 * (N - 1) * ALPHA


# ---- memory ----------------------------------------------------------------
def memory_per_rank(s, N, M, t=1):
    """Bytes one rank holds: F32 parameters and gradients (of its tensor-
    parallel part), AdamW's two moments sharded N ways over the data-parallel
    ranks (ZeRO-1), and the step arena for M tokens. N here is the
    data-parallel degree. Receive buffers are not counted."""
    p = s.params_tp(t)
    acts = (s.act_floats_per_token(t) * M + s.act_fixed_floats(M)) * F32
    return dict(params=p * F32, grads=p * F32, moments=2 * p * F32 / N, acts=acts,
                total=2 * p * F32 + 2 * p * F32 / N + acts)


# ---- tensor parallelism ------------------------------------------------------
def tp_bytes_per_layer(s, M, t):
    """Megatron-style per layer: one all-reduce of [M, D] activations after
    the temporal block's row-split output projection and one after the MLP's
    down projection in the forward, and the two matching ones of the input
    gradients in the backward; each a ring over t ranks. The RG-LRU and the
    conv are per channel (gates per head): nothing to exchange."""
    return 4 * 2 * (t - 1) / t * M * s.D * F32


# ---- output ------------------------------------------------------------------
def gb(x):
    return x / 1e9


def fmt_t(x):
    return "%.3f" % x if x < 10 else "%.1f" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", default=os.path.join(ROOT, "bench", "results", "dp_scaling_model.csv"),
                    help="where the full grid goes ('-': nowhere)")
    ap.add_argument("--params", metavar="CONFIG", help="print one config's parameters by part and stop")
    a = ap.parse_args()

    if a.params:
        s = Shape(a.params)
        print("parameters: %d" % s.params())
        for k, v in s.parts().items():
            print("%s: %d" % (k, v))
        return 0

    models = [Shape(os.path.join(ROOT, "configs", f))
              for f in ("recurrentgemma-2b.json", "recurrentgemma-9b.json")]
    print("# A model, not a measurement (bench/dp_scaling_model.py; docs/distributed.md).")
    print("# alpha %.0f us a message; links per rank, each way, full bisection; F32 on the wire."
          % (ALPHA * 1e6))
    for k, p in PROFILES.items():
        print("# %-5s %s" % (k, p["what"]))

    print("\n## Shapes (from configs/; `griffin info --config` prints the same counts)")
    print("%-18s %14s %12s %12s %12s %12s %14s" % ("model", "params", "embedding", "R layer",
                                                   "A layer", "MLP", "act B/token"))
    for s in models:
        print("%-18s %14d %12d %12d %12d %12d %14d" % (
            s.name, s.params(), s.embedding(), s.recurrent(), s.attention(), s.mlp(),
            s.act_floats_per_token() * F32))

    print("\n## Bytes a rank sends per step and the all-reduce's time (whole gradient, no overlap)")
    print("%-18s %5s %10s  %s" % ("model", "N", "GB/rank", "  ".join(
        "ring %3dG  bound" % g for g in LINKS_GBIT)))
    for s in models:
        nbytes = s.params() * F32
        for N in RANKS:
            cols = []
            for g in LINKS_GBIT:
                bw = g * 1e9 / 8
                cols.append("%8.3f %6.3f" % (allreduce_ring(nbytes, N, bw), allreduce_bound(nbytes, N, bw)))
            print("%-18s %5d %10.2f  %s" % (s.name, N, gb(2 * (N - 1) / N * nbytes), "  ".join(cols)))

    rows = []
    for s in models:
        for prof, p in PROFILES.items():
            for M in RANK_TOKENS:
                t_f = forward_time(s, M, p["flops"])
                _, _, t_b = backward_timeline(s, M, p["flops"])
                for g in LINKS_GBIT:
                    bw = g * 1e9 / 8
                    for N in RANKS:
                        mem = memory_per_rank(s, N, M)
                        for scheme, opts in SCHEMES.items():
                            rs, ag, hidden = exchange(s, N, bw, M, p["flops"], **opts)
                            step = t_f + t_b + rs + ag
                            rows.append(dict(
                                model=s.name, profile=prof, tokens_per_rank=M, link_gbit=g, ranks=N,
                                scheme=scheme, params=s.params(),
                                bytes_per_rank=round(2 * (N - 1) / N * s.params() * F32),
                                allreduce_ring_s=allreduce_ring(s.params() * F32, N, bw),
                                allreduce_bound_s=allreduce_bound(s.params() * F32, N, bw),
                                forward_s=t_f, backward_s=t_b, exposed_rs_s=rs, exposed_ag_s=ag,
                                hidden=int(hidden), step_s=step,
                                efficiency=(t_f + t_b) / step,
                                global_tokens=N * M, mem_per_rank_gb=gb(mem["total"]),
                                fits=int(mem["total"] <= p["mem"])))
    index = {(r["model"], r["profile"], r["tokens_per_rank"], r["link_gbit"], r["ranks"], r["scheme"]): r
             for r in rows}

    for prof in PROFILES:
        for g in LINKS_GBIT:
            print("\n## Step model, %s, %d Gb/s: efficiency = compute / (compute + exposed exchange)" % (prof, g))
            print("# exposed: the reduce-scatter's tail after the backward + the clip's norm + the all-gather")
            print("# not hidden; hid: the buckets done before the backward's end summed by then")
            print("%-18s %6s %5s %8s %8s   %s" % ("", "", "", "", "", "  ".join(
                "%-20s" % k for k in SCHEMES)))
            print("%-18s %6s %5s %8s %8s   %s" % ("model", "tokens", "N", "fwd s", "bwd s", "  ".join(
                "hid   exp s    eff" for k in SCHEMES)))
            for s in models:
                for M in RANK_TOKENS:
                    for N in RANKS:
                        cols = []
                        for k in SCHEMES:
                            r = index[(s.name, prof, M, g, N, k)]
                            cols.append("%3s %7s %5.1f%%" % (
                                "y" if r["hidden"] else "n", fmt_t(r["exposed_rs_s"] + r["exposed_ag_s"]),
                                100 * r["efficiency"]))
                        print("%-18s %6d %5d %8s %8s   %s" % (s.name, M, N, fmt_t(r["forward_s"]),
                                                              fmt_t(r["backward_s"]), "  ".join(cols)))

    print("\n## Latency alone of a ring reduce-scatter + all-gather for every bucket, s a step")
    print("%-18s %8s  %s" % ("model", "buckets", " ".join("%7d" % N for N in RANKS)))
    for s in models:
        print("%-18s %8d  %s" % (s.name, s.n_layers + 1, " ".join("%7.3f" % ring_latency_per_step(s, N)
                                                               for N in RANKS)))

    print("\n## Memory per rank, data parallel + ZeRO-1 (GB; params F32 + grads F32 + moments / N + activations)")
    print("%-18s %6s %7s %7s %7s %8s   %s" % ("model", "tokens", "params", "grads", "acts",
                                          "moments", "total at N = " + " ".join("%6d" % N for N in RANKS)))
    for s in models:
        for M in RANK_TOKENS:
            m1 = memory_per_rank(s, 1, M)
            tot = [gb(memory_per_rank(s, N, M)["total"]) for N in RANKS]
            print("%-18s %6d %7.1f %7.1f %7.1f %8.1f   %s" % (
                s.name, M, gb(m1["params"]), gb(m1["grads"]), gb(m1["acts"]), gb(m1["moments"]),
                "             " + " ".join("%6.1f" % x for x in tot)))
    print("# moments: both AdamW moments at N = 1, divided by N in the totals")

    print("\n## Tokens a rank must process for the exchange to hide (F32 on the wire): the")
    print("## reduce-scatter (4 B a parameter) behind the backward (4 FLOPs a parameter a token)")
    print("## needs M >= F / B; the all-gather behind the next forward (2 FLOPs) needs M >= 2 F / B.")
    print("## Both sides grow with the parameters, so the threshold holds for every model size.")
    for prof, p in PROFILES.items():
        print("%-6s %s" % (prof, "   ".join("%d Gb/s: M >= %.0f tokens (%.2f sequences)" % (
            g, 2 * p["flops"] / (g * 1e9 / 8), 2 * p["flops"] / (g * 1e9 / 8) / SEQ) for g in LINKS_GBIT)))

    print("\n## The most tokens a rank can hold in the accelerator's %.0f GB (ZeRO-1 over 64" % (PROFILES["accel"]["mem"] / 1e9))
    print("## data-parallel ranks), by tensor-parallel degree t (t = 1: data parallel alone)")
    for s in models:
        cells = []
        for t in TP_DEGREES:
            fixed = memory_per_rank(s, 64, 0, t)["total"]
            per = s.act_floats_per_token(t) * F32
            m = max(0, int((PROFILES["accel"]["mem"] - fixed - s.act_fixed_floats(1 << 30) * F32) // per))
            cells.append("t=%d: %6d (%.1f seq)" % (t, m, m / SEQ))
        print("%-18s %s" % (s.name, "  ".join(cells)))

    print("\n## Where data parallelism alone stops scaling: ranks at which a rank's share of the")
    print("## global batch falls below one sequence of %d (the global batches are assumptions)" % SEQ)
    for G in GLOBAL_TOKENS:
        print("global batch %d tokens (%d sequences): at most %d ranks; at 1,024 ranks %.2f sequences a rank"
              % (G, G // SEQ, G // SEQ, G / SEQ / 1024))

    print("\n## Tensor parallelism of degree t (MLP Megatron-style; recurrent block: linear_x, linear_y by")
    print("## column, linear_out by row, conv and RG-LRU gates by head; attention by head, MQA's one k/v")
    print("## head replicated): exchange per step for one sequence of %d tokens per group, on the" % SEQ)
    print("## critical path, against the accelerator's compute for that sequence; memory per rank at")
    print("## data-parallel degree 64 (ZeRO-1 over it); the data-parallel bytes per rank shrink by t")
    print("%-18s %3s %6s %9s %8s %8s %8s %8s %9s %8s %9s" % (
        "model", "t", "heads", "MB/layer", "GB/step", "100G s", "400G s", "NVL s", "compute s",
        "mem GB", "DP GB/rk"))
    for s in models:
        for t in TP_DEGREES:
            per_layer = tp_bytes_per_layer(s, SEQ, t)
            # the vocabulary-split embedding adds one [M, D] all-reduce each way
            step_bytes = per_layer * s.n_layers + 2 * 2 * (t - 1) / t * SEQ * s.D * F32
            compute = 3 * forward_time(s, SEQ, PROFILES["accel"]["flops"]) / t
            mem = memory_per_rank(s, 64, SEQ, t)["total"]
            heads = "even" if s.H % t == 0 else "%d/%d" % (-(-s.H // t), s.H)
            print("%-18s %3d %6s %9.1f %8.2f %8.3f %8.3f %8.4f %9.3f %8.1f %9.2f" % (
                s.name, t, heads, per_layer / 1e6, gb(step_bytes), step_bytes / (100e9 / 8),
                step_bytes / (400e9 / 8), step_bytes / (NVLINK_GBYTE * 1e9), compute, gb(mem),
                gb(2 * 63 / 64 * s.params_tp(t) * F32)))
    print("# NVL: an intra-node link of %d GB/s each way; heads a/b: the largest rank holds a of b heads"
          % NVLINK_GBYTE)

    if a.csv != "-":
        os.makedirs(os.path.dirname(os.path.abspath(a.csv)), exist_ok=True)
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            for r in rows:
                w.writerow({k: ("%.6g" % v if isinstance(v, float) else v) for k, v in r.items()})
        print("\n# %d rows written to %s" % (len(rows), os.path.relpath(a.csv, os.getcwd())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
