#!/usr/bin/env python3
"""Time to first token of turn N of a chat through `griffin serve`, with the
state cache and without it (issue 21, point 4).

Starts the server twice on one model (--cache-mb default, then 0), plays the
same chat of --turns user messages of --words words each (greedy replies of
--reply tokens, streamed), and prints each turn's prompt tokens and time to
first token; turn N without the cache prefills the whole conversation, with
it only the new message. Repeats --runs times and reports the best per turn.

Usage: bench/serve_chat_ttft.py --model DIR [--bin build/griffin] [--threads N]"""
import argparse, http.client, json, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("time river light stone garden letter morning window silver people voice market winter "
         "bridge paper summer orange harbour music forest").split()


def start(binary, model, cache_mb, threads):
    args = [binary, "serve", "--model", model, "--port", "0", "--slots", "2", "--cache-mb", str(cache_mb)]
    if threads:
        args += ["--threads", str(threads)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    m = re.search(r"http://([0-9.]+):(\d+)", line)
    if not m:
        p.kill()
        sys.exit(f"serve_chat_ttft: the server did not start: {line!r}")
    return p, m.group(1), int(m.group(2))


def turn(host, port, messages, reply_tokens):
    conn = http.client.HTTPConnection(host, port, timeout=600)
    body = {"messages": messages, "max_tokens": reply_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        sys.exit(f"serve_chat_ttft: HTTP {r.status}: {r.read()[:300]!r}")
    ttft, text, usage, buf = None, [], None, b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: ") or ev[6:] == b"[DONE]":
                continue
            j = json.loads(ev[6:])
            if j.get("usage"):
                usage = j["usage"]
            for c in j.get("choices") or []:
                piece = (c.get("delta") or {}).get("content") or ""
                if piece:
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    text.append(piece)
    conn.close()
    return ttft if ttft is not None else float("nan"), "".join(text), usage


def chat(host, port, turns, words, reply_tokens):
    messages, out = [], []
    for t in range(turns):
        msg = " ".join(WORDS[(t * 7 + i * 3) % len(WORDS)] for i in range(words))
        messages.append({"role": "user", "content": msg})
        ttft, reply, usage = turn(host, port, messages, reply_tokens)
        messages.append({"role": "assistant", "content": reply})
        out.append((ttft, usage["prompt_tokens"] if usage else -1, reply))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "griffin"))
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--words", type=int, default=200)
    ap.add_argument("--reply", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    best = {}
    replies = {}
    for cache_mb in (256, 0):
        for _ in range(a.runs):
            p, host, port = start(a.bin, a.model, cache_mb, a.threads)
            try:
                res = chat(host, port, a.turns, a.words, a.reply)
            finally:
                p.terminate()
                p.wait(30)
            replies.setdefault(cache_mb, [r for _, _, r in res])
            for t, (ttft, ptok, _) in enumerate(res):
                k = (cache_mb, t)
                if k not in best or ttft < best[k][0]:
                    best[k] = (ttft, ptok)
    same = replies[256] == replies[0]
    print(f"turn  prompt tokens  TTFT with cache  TTFT without  (best of {a.runs}; replies equal: {'yes' if same else 'NO'})")
    for t in range(a.turns):
        w, n = best[(256, t)], best[(0, t)]
        print(f"{t + 1:4d}  {n[1]:13d}  {w[0] * 1e3:12.1f} ms  {n[0] * 1e3:9.1f} ms  ({n[0] / w[0]:.1f}x)")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
