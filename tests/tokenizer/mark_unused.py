#!/usr/bin/env python3
"""Copies a SentencePiece model, turning every third NORMAL piece of two or
more characters into an UNUSED one, so that BPE has to undo the merges that
land on them (SentencePiece's resegmentation). Only the type field of those
pieces changes; every other byte is copied as it is.

usage: mark_unused.py IN.model OUT.model"""
import sys

NORMAL, UNUSED = 1, 5


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def put_varint(v):
    out = bytearray()
    while True:
        c, v = v & 0x7F, v >> 7
        out.append(c | 0x80 if v else c)
        if not v:
            return bytes(out)


def fields(b):
    """(field number, wire type, payload, the field's raw bytes) in order."""
    i = 0
    while i < len(b):
        start = i
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i : i + 8], i + 8
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i : i + n], i + n
        elif wt == 5:
            v, i = b[i : i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt} at byte {start}")
        yield f, wt, v, b[start:i]


def main():
    model = open(sys.argv[1], "rb").read()
    out, piece_id, marked = bytearray(), 0, 0
    for f, _, v, raw in fields(model):
        if f != 1:  # not a piece
            out += raw
            continue
        sub = list(fields(v))
        text = next((p for g, _, p, _ in sub if g == 1), b"")
        kind = next((p for g, _, p, _ in sub if g == 3), NORMAL)
        if kind == NORMAL and piece_id % 3 == 0 and len(text.decode("utf-8")) >= 2:
            body = b"".join(r for g, _, _, r in sub if g != 3) + b"\x18" + put_varint(UNUSED)
            out += b"\x0a" + put_varint(len(body)) + body
            marked += 1
        else:
            out += raw
        piece_id += 1
    assert marked > 100, f"only {marked} pieces marked"
    open(sys.argv[2], "wb").write(out)


if __name__ == "__main__":
    main()
