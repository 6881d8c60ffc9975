#!/usr/bin/env python3
"""Turns the unpacked Debian packages into documents, one per line.

  - bible-kjv-text + bible-kjv: the King James Bible (public domain), printed
    by the package's own `bible` program; one document per chapter, verse
    numbers dropped.
  - r-cran-janeaustenr: Jane Austen's six novels (public domain texts; the R
    package is MIT), stored as R's serialized character vectors, one per book,
    read here without R; paragraphs (blank-line separated) joined into
    documents of about 2 KB.

usage: extract.py PKGDIR OUT_DOCS_TXT OUT_SOURCES_MD
"""
import os
import random
import re
import struct
import subprocess
import sys
import zlib


def bible_docs(root):
    text = subprocess.run([os.path.join(root, "usr/bin/bible"), "-p", os.path.join(root, "usr/lib"),
                           "-l1000000", "Gen1:1-Rev22:21"], check=True, capture_output=True, text=True).stdout
    docs, cur = [], []
    for line in text.splitlines():
        m = re.match(r"\s+\d+ (.*)", line)  # verses are indented; "1 Kings 3" is a heading
        if m:
            cur.append(m.group(1).strip())
        elif line.strip():  # a "Book N" chapter heading starts the next document
            if cur:
                docs.append(" ".join(cur))
            cur = []
    if cur:
        docs.append(" ".join(cur))
    return docs


def r_strings(raw):
    """A character vector from R's XDR serialization (format 2 or 3)."""
    if raw[:2] != b"X\n":
        return None
    ver = struct.unpack(">i", raw[2:6])[0]
    i = 14
    if ver == 3:
        i += 4 + struct.unpack(">i", raw[i:i + 4])[0]
    if struct.unpack(">i", raw[i:i + 4])[0] & 0xFF != 16:  # STRSXP
        return None
    n = struct.unpack(">i", raw[i + 4:i + 8])[0]
    i += 8
    out = []
    for _ in range(n):
        length = struct.unpack(">i", raw[i + 4:i + 8])[0]
        i += 8
        if length < 0:
            out.append("")
            continue
        out.append(raw[i:i + length].decode("utf-8", "replace"))
        i += length
    return out


def austen_docs(root, rng):
    rdb = open(os.path.join(root, "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"), "rb").read()
    docs, pos = [], 0
    while pos < len(rdb):
        # each object: a 4-byte length, then a zlib stream
        d = zlib.decompressobj()
        raw = d.decompress(rdb[pos + 4:])
        pos = len(rdb) - len(d.unused_data)
        lines = r_strings(raw)
        if not lines or len(lines) < 1000:
            continue
        paras, cur = [], []
        for line in lines + [""]:
            if line.strip():
                cur.append(line.strip())
            elif cur:
                paras.append(" ".join(cur))
                cur = []
        doc = []
        for p in paras:
            if re.fullmatch(r"(CHAPTER|Chapter) [0-9IVXLC]+\.?", p) and doc:
                docs.append(" ".join(doc))
                doc = []
                continue
            doc.append(p)
            if sum(len(x) for x in doc) > 2000:
                docs.append(" ".join(doc))
                doc = []
        if doc:
            docs.append(" ".join(doc))
    return docs


def main():
    root, out_docs, out_sources = sys.argv[1:4]
    rng = random.Random(20261124)
    sources = [("bible-kjv-text + bible-kjv", "King James Bible, public domain (package: GPL-2+)", bible_docs(root)),
               ("r-cran-janeaustenr", "Jane Austen's six novels, public domain (package: MIT)", austen_docs(root, rng))]
    docs = []
    with open(out_sources, "w") as f:
        f.write("| package | text and licence | documents | bytes |\n|---|---|---|---|\n")
        for name, what, d in sources:
            d = [re.sub(r"\s+", " ", x).strip() for x in d if x.strip()]
            assert len(d) > 100, f"{name}: only {len(d)} documents extracted"
            f.write(f"| {name} | {what} | {len(d)} | {sum(len(x.encode()) for x in d)} |\n")
            docs += d
    rng.shuffle(docs)  # every source throughout, and in the held-out split
    with open(out_docs, "w") as f:
        for d in docs:
            f.write(d + "\n")
    print(f"extract: {len(docs)} documents, {sum(len(x.encode()) + 1 for x in docs)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
