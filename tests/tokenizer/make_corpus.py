#!/usr/bin/env python3
"""Writes the text the tokenizer tests train SentencePiece on and test with.

usage: make_corpus.py OUTDIR [--big]

  OUTDIR/corpus.txt         >= 1.2 MB of varied text, one sentence per line, for spm_train
  OUTDIR/lines.txt          >= 600 held-out test lines, hard cases included
  OUTDIR/lines_invalid.txt  test lines holding invalid UTF-8 (spm_encode takes them,
                            spm_train would not)
  OUTDIR/big.txt            ~10 MiB for the speed benchmark (only with --big)

Everything is drawn from a fixed seed, so the same files come out on every machine. English
prose and code come from the Python standard library's own sources (present wherever python3
is); other scripts are synthesised from the word lists below.
"""
import os
import random
import sys

WORDS = {
    "zh": "我们 你好 世界 中国 今天 天气 很好 学习 工作 朋友 电脑 语言 模型 时间 问题 因为 所以 但是 "
          "可以 没有 知道 什么 自己 这个 那个 大家 东西 生活 发展 经济 社会 文化 历史 科学 技术".split(),
    "ja": "私 は 日本語 を 勉強 して います 東京 大阪 ありがとう ございます こんにちは さようなら "
          "カタカナ ひらがな 漢字 コンピュータ ソフトウェア 天気 今日 明日 学校 先生 学生 電車 駅".split(),
    "ko": "안녕하세요 감사합니다 한국어 서울 부산 학교 선생님 학생 컴퓨터 프로그램 오늘 내일 "
          "날씨 사랑 친구 가족 음식 김치 노래 영화 책 시간".split(),
    "ar": "مرحبا شكرا العربية القاهرة الرياض مدرسة معلم طالب حاسوب برنامج اليوم غدا الطقس "
          "حب صديق عائلة طعام كتاب وقت في من على إلى هذا".split(),
    "he": "שלום תודה עברית ירושלים תל אביב בית ספר מורה תלמיד מחשב היום מחר אהבה חבר".split(),
    "ru": "привет спасибо русский язык москва школа учитель ученик компьютер программа сегодня "
          "завтра погода любовь друг семья еда книга время это что как".split(),
    "el": "γειά σου ευχαριστώ ελληνικά αθήνα σχολείο δάσκαλος μαθητής υπολογιστής σήμερα αύριο".split(),
    "hi": "नमस्ते धन्यवाद हिन्दी दिल्ली विद्यालय शिक्षक छात्र कंप्यूटर आज कल मौसम प्यार दोस्त".split(),
    "th": "สวัสดี ขอบคุณ ภาษาไทย กรุงเทพ โรงเรียน ครู นักเรียน คอมพิวเตอร์ วันนี้ พรุ่งนี้".split(),
    "de": "Grüße Straße Mädchen über schön Käse Größe Fußball Brötchen Äpfel Öl Übung".split(),
    "fr": "déjà vu café naïve garçon façade élève être où très noël cœur œuvre".split(),
}

EMOJI = ["😀", "😂", "🥲", "👍", "👍🏽", "👍🏿", "❤️", "🔥", "🎉", "🚀", "🇯🇵", "🇫🇷", "🇧🇷",
         "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩‍💻", "🧑🏽‍🚀", "🐈‍⬛", "❤️‍🔥", "😶‍🌫️"]
# Compatibility characters that NFKC rewrites.
NFKC = ["ＡＢＣ", "１２３", "ｈｅｌｌｏ", "ﬁ", "ﬂ", "ﬀ", "①", "②", "⑩", "㎏", "㎞", "㍻", "½", "¼", "ℌ",
        "ℕ", "ｶﾀｶﾅ", "ﾊﾝｶｸ", "²", "³", "ⁿ", "Ⅻ", "ⅳ", "™", "…", "‼", "Å", "e\u0301", "a\u0308",
        "ᄀ\u1161", "\u3000", "\u00a0", "ｱｲｳ", "㈱", "℃", "ℓ"]
CODE_SNIPPETS = ["for (int i = 0; i < n; i++) {", "\treturn x * 2;", "}", "if x is None:",
                 "    print(f\"{name}: {value:.3f}\")", "#include <stdio.h>", "SELECT * FROM t WHERE id = 42;",
                 "let v: Vec<u32> = (0..10).collect();", "x = [i**2 for i in range(10)]",
                 "\t\tfoo(bar, baz);  // two spaces", "def __init__(self, *args, **kwargs):",
                 "git commit -m 'fix: handle empty input'", "<div class=\"a\">&amp;</div>"]


def stdlib_lines(rng, limit_bytes):
    """Real English and code: lines of the standard library's .py files."""
    root = os.path.dirname(os.__file__)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "dist-packages", "test", "tests",
                                                              "idlelib", "__pycache__"))
        files += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py")]
    rng.shuffle(files)
    out, total = [], 0
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        for line in text.splitlines():
            if line.strip() and len(line.encode()) < 2000:
                out.append(line)
                total += len(line.encode()) + 1
        if total >= limit_bytes:
            break
    return out


def number(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randrange(10 ** rng.randrange(1, 12)))
    if kind == 1:
        return f"{rng.uniform(-1e4, 1e4):.{rng.randrange(1, 6)}f}"
    if kind == 2:
        return f"{rng.randrange(1900, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if kind == 3:
        return f"+{rng.randrange(1, 99)} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
    if kind == 4:
        return "".join(rng.choice("0123456789") for _ in range(rng.randrange(10, 40)))
    return f"{rng.randrange(100)}%"


def synth_line(rng, prose):
    """A line mixing scripts, numbers, emoji and compatibility forms."""
    parts = []
    for _ in range(rng.randrange(1, 14)):
        r = rng.random()
        if r < 0.35:
            lang = rng.choice(list(WORDS))
            parts.append(rng.choice(WORDS[lang]))
        elif r < 0.5:
            parts.append(number(rng))
        elif r < 0.6:
            parts.append(rng.choice(EMOJI))
        elif r < 0.7:
            parts.append(rng.choice(NFKC))
        elif r < 0.8:
            parts.append(rng.choice(CODE_SNIPPETS))
        else:
            words = rng.choice(prose).split()
            if words:
                parts.append(rng.choice(words))
    sep = rng.choice([" ", " ", " ", "", "、", ", "])
    return sep.join(parts)


def corpus(rng, prose, size):
    lines, total = [], 0
    while total < size:
        r = rng.random()
        if r < 0.45:
            line = rng.choice(prose)
        elif r < 0.55:
            lang = rng.choice(list(WORDS))
            joiner = "" if lang in ("zh", "ja", "th") else " "
            line = joiner.join(rng.choice(WORDS[lang]) for _ in range(rng.randrange(3, 20)))
        else:
            line = synth_line(rng, prose)
        line = line.replace("\n", " ")
        lines.append(line)
        total += len(line.encode()) + 1
    return lines


HARD = [
    "", "", " ", "    ", "\t", " \t ", "leading space", "  two leading", "trailing space ",
    "trailing tab\t", "inner  two   three    four     spaces", "a          b", "\tleading tab",
    "tab\tinside\tline", "mixed \t \t whitespace", "\x01\x02\x03 control", "bell\x07 and \x08 backspace",
    "vertical\x0btab and form\x0cfeed", "escape \x1b[31m red \x1b[0m", "delete \x7f char", "\x0e\x0f\x10\x1f",
    "carriage\rreturn", "ends with cr\r", "C1 \u0080\u0085\u009f controls", "zero\u200bwidth space",
    "zwj alone \u200d here", "bom \ufeff inside", "no\u00a0break\u00a0space", "ideographic\u3000space",
    "em\u2003space", "literal ▁ lower block", "▁▁▁", "▁leading", "<s> looks special </s>", "<unk>",
    "<pad> and <mask>", "<start_of_turn>user", "<end_of_turn>",
    "<start_of_turn><end_of_turn><start_of_turn>", "<0x41> byte piece text", "<0xFF>", "foo_bar",
    "[@BOS@]", "<2mass>", "<ctrl1> control symbol text", "x", "9", "€", "𠀀", "𐌰𐌱𐌲", "\ue000 private use",
    "\U0010fffd plane 16", "rare 𠀀𠀁𠀂 ext-B", "0123456789", "3.14159265358979323846",
    "1,000,000.00", "2024-01-31T12:34:56Z", "ＡＢＣ１２３ full width", "ﬁnance ﬂow", "①②③ ⑩",
    "㎏ ㎞ ℃ ℓ", "½ ¼ ¾", "ｶﾀｶﾅ ﾊﾝｶｸ", "x² y³ zⁿ", "Ⅻ ⅳ", "™ … ‼", "e\u0301 vs é", "한국어 ᄀ\u1161",
    "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "👍🏽👍🏿", "🇯🇵🇫🇷", "❤️‍🔥", "مرحبا بالعالم", "שלום עולם",
    "中文，标点。", "日本語の文章です。", "混合 mixed テキスト text 텍스트", "Ελληνικά και русский",
    "नमस्ते दुनिया", "สวัสดีชาวโลก", "Größe straße", "naïve café", "    def f(x):", "\t\treturn None",
    "if (a &&  b) { c(); }", "https://example.com/path?q=1&r=2#frag", "user@example.com",
    "C:\\Windows\\System32", "$HOME/.config", "~~~ ``` *** ___", "a" * 3000, "ab " * 1000,
    " ".join(["word"] * 500), "日本" * 700,
    # every C0 control but NUL and LF, then every C1 control
    "".join(map(chr, [*range(1, 10), 11, 12, *range(13, 32), 127])) + " all C0",
    "all C1 " + "".join(map(chr, range(0x80, 0xA0))),
    "\r\r\r", " \t", "\ufeffbom at start", "\u0301 combining mark first", "\ufe0f lone selector",
    "spaces\u2000\u2002\u2009\u200a\u202f\u205f\u1680mixed", "line\u2028sep and para\u2029sep",
    "soft\u00adhyphen", "\ufdfd long NFKC expansion", "¨ ¯ ´ NFKC to space", "\ufffd replacement char",
    "\uffff noncharacter \U0010ffff", "Ⓐⓑ ㍱ ㋿", " " * 3000, "7" * 3000, "👨‍👩‍👧‍👦" * 120,
]


def test_lines(rng, prose, seen):
    """HARD, then held-out prose and synthesised lines the corpus does not hold."""
    lines = list(HARD)
    while len(lines) < 700:
        r = rng.random()
        if r < 0.3:
            line = rng.choice(prose)
        elif r < 0.8:
            line = synth_line(rng, prose)
        else:
            line = rng.choice(HARD[:60]) + rng.choice(["", " ", "  ", "\t"]) + synth_line(rng, prose)
        # sprinkle the whitespace and control characters normalisation treats specially
        if rng.random() < 0.2:
            pos = rng.randrange(len(line) + 1)
            line = line[:pos] + rng.choice(["  ", "\t", " \t", "\x01", "\u00a0", "\u3000", "   "]) + line[pos:]
        line = line.replace("\n", " ")
        if line not in seen:
            lines.append(line)
    return lines


INVALID = [b"\xff", b"\xfe\xff", b"\xc3A", b"\xc3", b"\xe3\x81", b"\xe3\x81A", b"\xc0\xaf", b"\xed\xa0\x80",
           b"\xf0\x9f\x98", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xbf\xbf", b"\xf4\x90\x80\x80"]


def invalid_lines(rng, valid):
    out = [b + b" tail" for b in INVALID] + [b"head " + b for b in INVALID]
    while len(out) < 60:
        a, b = rng.choice(valid).encode(), rng.choice(valid).encode()
        line = a[: rng.randrange(len(a) + 1)] + rng.choice(INVALID) + b
        if not valid_utf8(line):  # a cut sequence can complete a stray byte
            out.append(line)
    return out


def valid_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def write_lines(path, lines):
    with open(path, "wb") as f:
        for line in lines:
            f.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261124)
    prose = stdlib_lines(rng, 3 << 20)
    rng.shuffle(prose)
    held_out, train_prose = prose[:3000], prose[3000:]
    train = corpus(rng, train_prose, int(1.3 * (1 << 20)))
    lines = test_lines(random.Random(7), held_out, set(train))
    bad = invalid_lines(random.Random(8), lines)
    # spm_train wants valid UTF-8 and short lines; spm_encode pairs lines by '\n'
    assert sum(len(l.encode()) + 1 for l in train) >= 1.2e6
    assert all(len(l.encode()) < 4000 and "\n" not in l for l in train)
    assert len(lines) >= 600 and not any("\n" in l for l in lines)
    assert len(bad) >= 20 and not any(b"\n" in b for b in bad)
    assert not any(map(valid_utf8, bad))
    write_lines(os.path.join(out, "corpus.txt"), train)
    write_lines(os.path.join(out, "lines.txt"), lines)
    write_lines(os.path.join(out, "lines_invalid.txt"), bad)
    # A few lines of hundreds of kilobytes: segmentation work that grows
    # faster than the line would show here as a slow test.
    long = [" ".join(held_out * 4)[: 400 << 10], "ab " * 100000, "1234567890" * 30000,
            "".join(rng.choice("abcdefgh ") for _ in range(300000))]
    assert all(len(l) >= 300000 and "\n" not in l for l in long)
    write_lines(os.path.join(out, "long.txt"), long)
    if "--big" in sys.argv[2:]:
        big = corpus(random.Random(9), prose, 10 << 20)
        assert abs(sum(len(l.encode()) + 1 for l in big) / (10 << 20) - 1) < 0.05
        write_lines(os.path.join(out, "big.txt"), big)


if __name__ == "__main__":
    main()
