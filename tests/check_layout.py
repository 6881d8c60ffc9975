#!/usr/bin/env python3
"""The library's architecture, checked on the built objects and the sources:
  1. no import circle: the graph "file A calls a function defined in file B"
     (from nm on each object of BUILD/src) has no cycle;
  2. inference never depends on training: no file of src/model, src/layers,
     src/kernels, src/formats, src/generate, src/tokenizer (nor griffin.h)
     includes a training header or calls into src/train or src/tasks.
Usage: check_layout.py BUILD. Prints "layout: ok" or one line per fault."""
import os, re, subprocess, sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
root = os.path.join(build, "src")
objs = []
for d, _, fs in os.walk(root):
    # only objects of sources that exist (a moved file leaves its old object)
    objs += [os.path.join(d, f) for f in fs
             if f.endswith(".o") and os.path.exists(os.path.relpath(os.path.join(d, f), build)[:-2] + ".c")]
if not objs:
    print(f"layout: no objects under {root}: build first"); sys.exit(1)

defined, undef = {}, {}
for o in objs:
    src = os.path.relpath(o, build)[:-2] + ".c"
    out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
    undef[src] = set()
    for line in out.splitlines():
        p = line.split()
        if len(p) == 2 and p[0] == "U": undef[src].add(p[1])
        elif len(p) == 3 and p[1] in "TDBR": defined[p[2]] = src
edges = {s: sorted({defined[u] for u in us if u in defined and defined[u] != s}) for s, us in undef.items()}

faults = []
# Tarjan's strongly connected components: any with more than one file is a circle.
index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        comps.append(c)
sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index: visit(v)
for c in comps:
    if len(c) > 1: faults.append("import circle: " + " <-> ".join(sorted(c)))

inference = ("src/model/", "src/layers/", "src/kernels/", "src/formats/", "src/generate/", "src/tokenizer/")
training = ("src/train/", "src/tasks/")
for s, ds in edges.items():
    if s.startswith(inference):
        for d in ds:
            if d.startswith(training): faults.append(f"inference calls training: {s} -> {d}")
inc = re.compile(r'#\s*include\s+"([^"]+)"')
files = ["include/griffin.h"]
for d in inference:
    for r, _, fs in os.walk(d):
        files += [os.path.join(r, f) for f in fs if f.endswith((".c", ".h"))]
for f in files:
    for name in inc.findall(open(f, encoding="utf-8").read()):
        if "griffin_train.h" in name or name.startswith(("train/", "tasks/", "../train/", "../tasks/")):
            faults.append(f"inference includes a training header: {f} includes {name}")

for f in faults: print(f)
if faults: sys.exit(1)
print(f"layout: ok ({len(edges)} files, no import circle, inference free of training)")
