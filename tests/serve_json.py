#!/usr/bin/env python3
"""JSON and server-sent-event checks for tests/test_serve.sh.

  serve_json.py get FILE EXPR          print EXPR evaluated on the JSON in FILE (as d)
  serve_json.py error FILE             FILE must hold OpenAI's error object; prints its code
  serve_json.py sse FILE KIND OUT      FILE must be an OpenAI stream of KIND (text_completion or
                                       chat.completion.chunk) ending with data: [DONE]; the text
                                       joined goes to OUT, the finish reason is printed
  serve_json.py same FILE EXPR TEXT    EXPR on FILE's JSON must equal TEXT's content less its
                                       last newline (what griffin generate / chat print)
  serve_json.py equal FILE EXPR TEXT   the same, TEXT's content taken whole (a stream's text)
  serve_json.py samefile A B           the two files hold the same bytes
Exit status 1 with one line on stderr when a check fails."""
import json, sys


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except Exception as e:  # noqa: BLE001
        die(f"{path}: not JSON: {e}")


def main():
    cmd = sys.argv[1]
    if cmd == "get":
        d = load(sys.argv[2])
        print(eval(sys.argv[3], {"d": d, "json": json}))
    elif cmd == "error":
        d = load(sys.argv[2])
        e = d.get("error") if isinstance(d, dict) else None
        if not isinstance(e, dict) or set(e) != {"message", "type", "param", "code"}:
            die(f"{sys.argv[2]}: not an OpenAI error object: {d}")
        if not isinstance(e["message"], str) or not e["message"] or not isinstance(e["type"], str):
            die(f"{sys.argv[2]}: error without a message or type: {d}")
        print(e["code"])
    elif cmd == "sse":
        path, kind, out = sys.argv[2], sys.argv[3], sys.argv[4]
        raw = open(path, "rb").read().decode("utf-8")
        events = [b for b in raw.split("\n\n") if b.strip()]
        data = []
        for ev in events:
            for line in ev.split("\n"):
                if line.startswith(":"):
                    continue
                if not line.startswith("data: "):
                    die(f"{path}: a line that is not 'data: ...': {line[:80]!r}")
                data.append(line[6:])
        if not data or data[-1] != "[DONE]":
            die(f"{path}: the stream does not end with data: [DONE]")
        text, finish, ids, usage = [], None, set(), None
        for i, s in enumerate(data[:-1]):
            c = json.loads(s)
            if c.get("object") != kind:
                die(f"{path}: chunk {i} has object {c.get('object')!r}, not {kind!r}")
            ids.add(c["id"])
            if not c["choices"]:
                usage = c.get("usage")
                continue
            ch = c["choices"][0]
            if finish is not None:
                die(f"{path}: a chunk after the one with finish_reason")
            if kind == "chat.completion.chunk":
                delta = ch["delta"]
                if i == 0 and delta.get("role") != "assistant":
                    die(f"{path}: the first chunk has no role 'assistant'")
                text.append(delta.get("content") or "")
            else:
                text.append(ch["text"])
            finish = ch["finish_reason"]
        if len(ids) != 1:
            die(f"{path}: chunks with {len(ids)} different ids")
        if finish not in ("stop", "length"):
            die(f"{path}: the last chunk's finish_reason is {finish!r}")
        with open(out, "w", encoding="utf-8", newline="") as f:
            f.write("".join(text))
        print(finish if usage is None else f"{finish} {usage['prompt_tokens']} {usage['completion_tokens']}")
    elif cmd in ("same", "equal"):
        d = load(sys.argv[2])
        got = eval(sys.argv[3], {"d": d, "json": json})
        want = open(sys.argv[4], encoding="utf-8", newline="").read()
        if cmd == "same" and want.endswith("\n"):
            want = want[:-1]
        if got != want:
            die(f"{sys.argv[2]}: {got!r} != {want!r}")
    elif cmd == "samefile":
        a, b = (open(p, "rb").read() for p in sys.argv[2:4])
        if a != b:
            die(f"{sys.argv[2]} and {sys.argv[3]} differ: {a[:200]!r} vs {b[:200]!r}")
    else:
        die(f"unknown command {cmd}")


main()
