"""Reading mkdbg's gdb-style answers back: `$N = ...` lines, integers, char arrays and strings."""

import re


ANSWER = re.compile(r"^\$\d+ = (.*)$")
INT = re.compile(r"^(?:\([^()]*\)\s*)?(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)(?:\s+<[^<>]*>)?(?:\s+'.*')?$")


def parse_int(text):
    m = INT.match(text.strip())
    if not m:
        return None
    v = int(m.group(2), 0) if not re.fullmatch(r"0[0-7]+", m.group(2)) else int(m.group(2), 8)
    return -v if m.group(1) else v


ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "e": 27,
           "\\": 92, '"': 34, "'": 39, "?": 63}


def parse_c_chars(s, i, quote):
    """Characters of a C literal starting after the opening quote at s[i-1]; returns (bytes, next index)."""
    out = bytearray()
    while i < len(s):
        c = s[i]
        if c == quote:
            return bytes(out), i + 1
        if c == "\\":
            i += 1
            e = s[i]
            if e in "01234567":
                j = i
                while j < len(s) and j < i + 3 and s[j] in "01234567":
                    j += 1
                out.append(int(s[i:j], 8) & 0xFF)
                i = j
                continue
            if e == "x":
                j = i + 1
                while j < len(s) and s[j] in "0123456789abcdefABCDEF":
                    j += 1
                out.append(int(s[i + 1:j], 16) & 0xFF)
                i = j
                continue
            if e not in ESCAPES:
                raise ValueError("unknown escape \\%s" % e)
            out.append(ESCAPES[e])
            i += 1
            continue
        out += c.encode("utf-8")
        i += 1
    raise ValueError("unterminated literal")


def parse_gdb_string(text):
    """gdb's char array / char * syntax → (bytes, truncated)."""
    s = text.strip()
    m = re.match(r"^(?:\([^()]*\)\s*)?0x[0-9a-fA-F]+(?:\s+<[^<>]*>)?\s+(?=\")", s)
    if m:  # char *: address then the string
        s = s[m.end():]
    out = bytearray()
    i = 0
    truncated = False
    while i < len(s):
        if s[i] == '"':
            b, i = parse_c_chars(s, i + 1, '"')
            out += b
        elif s[i] == "'":
            b, i = parse_c_chars(s, i + 1, "'")
            rep = re.match(r"\s*<repeats (\d+) times>", s[i:])
            n = 1
            if rep:
                n = int(rep.group(1))
                i += rep.end()
            out += b * n
        else:
            raise ValueError("unexpected %r at %d" % (s[i:i + 10], i))
        if s.startswith("...", i):
            truncated = True
            i += 3
        if i < len(s):
            if not s.startswith(", ", i):
                raise ValueError("expected ', ' at %d: %r" % (i, s[i:i + 10]))
            i += 2
    return bytes(out), truncated
