#!/usr/bin/env python3
"""An independent float64 PyTorch reference of Griffin / Hawk / the MQA Transformer,
written from the equations of the spec (shared/spec/model.md), not from griffin's C code.

    griffin_ref.py MODEL_DIR TOKENS.npy [SEGMENT_POS.npy] OUT_LOGITS.npy

Reads a Hugging Face RecurrentGemma directory (config.json + model.safetensors in F32/BF16/F16)
and writes float32 logits [B, T, V] of one full-sequence forward (prefill semantics: packed
documents via segment positions). Needs only torch and numpy (Debian's python3-torch).
"""
import json
import math
import struct
import sys

import numpy as np
import torch

F = torch.float64


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        buf = bytearray(data[a:b])
        if t["dtype"] == "F32":
            x = torch.frombuffer(buf, dtype=torch.float32) if buf else torch.zeros(0)
        elif t["dtype"] == "BF16":
            x = torch.frombuffer(buf, dtype=torch.bfloat16).float()
        elif t["dtype"] == "F16":
            x = torch.frombuffer(buf, dtype=torch.float16).float()
        else:
            raise SystemExit(f"{path}: dtype {t['dtype']} not handled by the reference")
        out[name] = x.reshape(t["shape"]).to(F)
    return out


def config(path):
    c = json.load(open(path))
    n = c["num_hidden_layers"]
    pattern = c.get("block_types") or c.get("_block_types")
    return dict(
        V=c["vocab_size"], D=c["hidden_size"], E=c["intermediate_size"] // 2, N=n,
        H=c["num_attention_heads"], L=c.get("lru_width") or c["hidden_size"],
        w=c["attention_window_size"], W=c.get("conv1d_width", 4),
        cap=c.get("logits_soft_cap", 30.0), scale=c.get("embeddings_scale_by_sqrt_dim", True),
        eps=c.get("rms_norm_eps", 1e-6), theta=c.get("rope_theta", 10000.0),
        blocks=[pattern[i % len(pattern)] for i in range(n)],
    )


def rmsnorm(x, s, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * (1 + s)


def gelu(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def segment_ids(pos):
    return torch.cumsum((pos == 0).long(), dim=1)


def conv1d(x, pos, w, b):
    # x [B, T, L]; w [W, L] with w[W-1] on the current token; taps stop at document starts.
    B, T, L = x.shape
    W = w.shape[0]
    seg = segment_ids(pos)
    out = torch.zeros_like(x)
    for s in range(W):
        if s >= T:
            break
        shifted = torch.zeros_like(x)
        shifted[:, s:] = x[:, :T - s]
        same = torch.zeros(B, T, dtype=torch.bool)
        same[:, s:] = seg[:, s:] == seg[:, :T - s]
        out = out + shifted * same[..., None] * w[W - 1 - s]
    return out + b


def rglru(x, pos, p, H):
    B, T, L = x.shape
    bw = L // H
    xh = x.reshape(B, T, H, bw)
    gi = torch.sigmoid(torch.einsum("bthi,hij->bthj", xh, p["input_gate_weight"]).reshape(B, T, L)
                       + p["input_gate_bias"].reshape(L))
    ga = torch.sigmoid(torch.einsum("bthi,hij->bthj", xh, p["recurrent_gate_weight"]).reshape(B, T, L)
                       + p["recurrent_gate_bias"].reshape(L))
    log_a = -8.0 * ga * torch.nn.functional.softplus(p["recurrent_param"])
    a = torch.exp(log_a)
    mult = torch.sqrt(1 - torch.exp(2 * log_a))
    reset = (pos == 0)[..., None]
    mult = torch.where(reset, torch.ones_like(mult), mult)
    a = torch.where(reset, torch.zeros_like(a), a)
    u = x * gi * mult
    h = torch.zeros(B, L, dtype=F)
    out = torch.empty_like(x)
    for t in range(T):
        h = a[:, t] * h + u[:, t]
        out[:, t] = h
    return out


def rope(x, pos, theta):
    # x [B, T, n, hd]: rotate the first half of each head, pairing k with k + R/2.
    hd = x.shape[-1]
    R = hd // 2
    half = R // 2
    inv = 1.0 / theta ** (torch.arange(half, dtype=F) * 2 / R)
    ang = pos.to(F)[..., None, None] * inv
    c, s = torch.cos(ang), torch.sin(ang)
    x1, x2, rest = x[..., :half], x[..., half:R], x[..., R:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s, rest], dim=-1)


def attention(x, pos, p, H, w, theta):
    B, T, D = x.shape
    hd = D // H
    q = (x @ p["q_proj.weight"].T).reshape(B, T, H, hd)
    k = (x @ p["k_proj.weight"].T).reshape(B, T, 1, hd)
    v = (x @ p["v_proj.weight"].T).reshape(B, T, hd)
    q, k = rope(q, pos, theta), rope(k, pos, theta)[:, :, 0]
    logits = torch.einsum("btnh,bsh->bnts", q, k) / math.sqrt(hd)
    t = torch.arange(T)
    seg = segment_ids(pos)
    mask = (t[None, :, None] >= t[None, None, :]) & (t[None, :, None] - t[None, None, :] <= w)
    mask = mask & (seg[:, :, None] == seg[:, None, :])
    logits = logits.masked_fill(~mask[:, None], float("-inf"))
    o = torch.einsum("bnts,bsh->btnh", torch.softmax(logits, -1), v).reshape(B, T, D)
    return o @ p["o_proj.weight"].T + p["o_proj.bias"]


def forward(model_dir, tokens, pos):
    c = config(f"{model_dir}/config.json")
    P = load_safetensors(f"{model_dir}/model.safetensors")
    emb = P["model.embed_tokens.weight"]
    s = 1.0
    if c["scale"]:
        s = float(torch.tensor(math.sqrt(c["D"]), dtype=torch.float32).to(torch.bfloat16))
    x = emb[tokens] * s
    for i, kind in enumerate(c["blocks"]):
        pre = f"model.layers.{i}."
        blk = {k[len(pre) + len("temporal_block."):]: v for k, v in P.items()
               if k.startswith(pre + "temporal_block.")}
        h = rmsnorm(x, P[pre + "temporal_pre_norm.weight"], c["eps"])
        if kind == "attention":
            h = attention(h, pos, blk, c["H"], c["w"], c["theta"])
        else:
            y = gelu(h @ blk["linear_y.weight"].T + blk["linear_y.bias"])
            xb = h @ blk["linear_x.weight"].T + blk["linear_x.bias"]
            cw = blk["conv_1d.weight"][:, 0, :].T  # HF [L, 1, W] -> [W, L]
            xc = conv1d(xb, pos, cw, blk["conv_1d.bias"])
            r = rglru(xc, pos, {k[len("rg_lru."):]: v for k, v in blk.items() if k.startswith("rg_lru.")}, c["H"])
            h = (r * y) @ blk["linear_out.weight"].T + blk["linear_out.bias"]
        x = x + h
        m = rmsnorm(x, P[pre + "channel_pre_norm.weight"], c["eps"])
        g = gelu(m @ P[pre + "mlp_block.gate_proj.weight"].T + P[pre + "mlp_block.gate_proj.bias"])
        u = m @ P[pre + "mlp_block.up_proj.weight"].T + P[pre + "mlp_block.up_proj.bias"]
        x = x + (g * u) @ P[pre + "mlp_block.down_proj.weight"].T + P[pre + "mlp_block.down_proj.bias"]
    logits = rmsnorm(x, P["model.final_norm.weight"], c["eps"]) @ emb.T
    if c["cap"]:
        logits = torch.tanh(logits / c["cap"]) * c["cap"]
    return logits


def main(argv):
    if len(argv) not in (4, 5):
        raise SystemExit(__doc__)
    tokens = torch.from_numpy(np.load(argv[2]).astype(np.int64))
    if len(argv) == 5:
        pos = torch.from_numpy(np.load(argv[3]).astype(np.int64))
    else:
        pos = torch.arange(tokens.shape[1])[None].expand(tokens.shape[0], -1)
    with torch.no_grad():
        logits = forward(argv[1], tokens, pos)
    np.save(argv[-1], logits.to(torch.float32).numpy())


if __name__ == "__main__":
    main(sys.argv)
