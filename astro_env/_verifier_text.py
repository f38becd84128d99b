"""Pure, in-process text handling for the verifier: answer extraction, normalisation, screening,
structure splitting and the exact plain-number comparison.

Everything here is linear-time string work (no regex with nested quantifiers, no recursion on
untrusted depth) and never evaluates text. The symbolic remainder goes to `_verifier_worker`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from astro_env.boxes import Boxes, scan_boxes

MAX_ANSWER_CHARS = 400
"""Longer final answers are never parsed symbolically (MATH-500 gold answers are < 100 chars)."""
MAX_NESTING = 24
"""Deeper {}/()/[] nesting is rejected before any parsing."""
MAX_POWER_NESTING = 3
"""Exponents nested deeper than this (power towers) are rejected before parsing."""
MAX_EXPONENT_DIGITS = 5
"""Integer literals inside an exponent, a factorial or a binomial may have at most this many digits."""
MAX_ITEMS = 16
"""Tuples/sets/lists with more elements are compared by normalised string only."""

# ---------------------------------------------------------------------------------------------
# Extraction


_ANSWER_PHRASE = re.compile(r"(?:final\s+answer\s+is|the\s+answer\s+is|final\s+answer\s*:)", re.IGNORECASE)


def find_boxes(text: str) -> Boxes:
    """Every top-level `\\boxed{...}` / `\\fbox{...}` / `\\boxed X` of `text` (`astro_env.boxes.scan_boxes`)."""
    return scan_boxes(text)


def find_stated_answer(text: str) -> str | None:
    """Return X of the last "The answer is X" / "final answer is X" / "Final Answer: X" in `text`."""
    last = None
    for m in _ANSWER_PHRASE.finditer(text):
        last = m
    if last is None:
        return None
    rest = text[last.end() : last.end() + 2 * MAX_ANSWER_CHARS].lstrip(" \t:")
    if rest.startswith("$"):
        delim = "$$" if rest.startswith("$$") else "$"
        end = rest.find(delim, len(delim))
        if end < 0:
            return None
        answer = rest[len(delim) : end]
    elif rest.startswith("\\(") or rest.startswith("\\["):
        end = rest.find("\\)" if rest[1] == "(" else "\\]", 2)
        if end < 0:
            return None
        answer = rest[2:end]
    else:
        line = rest.split("\n", 1)[0]
        # The sentence ends at ". " or a final ".", not at a decimal point.
        cut = re.search(r"\.(?:\s|$)", line)
        answer = line[: cut.start()] if cut else line
    answer = answer.strip().rstrip(".,;")
    return answer or None


# ---------------------------------------------------------------------------------------------
# Normalisation


_STRIP_COMMANDS = re.compile(
    r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|displaystyle|textstyle|limits)(?![A-Za-z])"
)
_SPACING = re.compile(r"(?<!\\)\\(?:[,;:! ]|quad|qquad|enspace|thinspace)(?![A-Za-z])|~")
_TEXT_CMD = re.compile(
    r"\\(?:text|mbox|textbf|textit|textrm|textnormal|textsf|texttt|emph|mathrm|mathbf|mathit|mathsf|mathtt"
    r"|mathnormal|operatorname|hbox)\s*\{"
)
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![A-Za-z])|\^\s*\{\s*\\text\{o\}\s*\}")
_HEDGE = re.compile(
    r"\\(?:lor|vee|pm|mp)(?![A-Za-z])|±|∓|\\text\{\s*or\s*\}|\\mathrm\{\s*or\s*\}|(?<![A-Za-z\\])or(?![A-Za-z])"
)
UNIT_WORDS = frozenset(
    """cm m km mm inch inches in ft feet foot yard yards mile miles meter meters metres units unit sq
    square cubic degree degrees deg cent cents dollar dollars hour hours hr minute minutes min second
    seconds sec day days week weeks year years mph kg g gram grams pound pounds lb lbs liter liters
    people students ways points inches^2 feet^2 meters^2 cm^2 m^2 km^2 units^2 sq. ft in. ml mL L s h
    kilometers kilometres centimeters centimetres millimeters metre seconds. hours. minutes. dollars.
    euros euro yen rupees cups gallons ounces oz tons mg km/h m/s ft/s mi mi/h kmh""".split()
)
LOGIC_WORDS = frozenset(
    """not no or nor neither none never and but except than maybe perhaps possibly either unless only
    approximately about roughly nearly almost least most more less if undefined impossible true false
    all every any""".split()
)
"""Words that change what a number means: a text group holding one is never dropped as a unit."""


def _replace_group(text: str, start: int) -> tuple[str, int] | None:
    """Return (content, end) of the balanced {...} group that opens at text[start] == "{"."""
    depth = 0
    for j in range(start, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : j], j + 1
    return None


def _unwrap_text(s: str) -> str:
    r"""Replace each `\text{X}` (and `\mathrm`, `\textbf`, ...) by X, except units: a group of unit
    words (`\text{ cm}^2`), or a trailing group of plain words after mathematical content
    (`5 \text{ apples}`) holding no word of `LOGIC_WORDS`, is dropped. Words that change the meaning
    (`\text{not } 5`, `\mathrm{Integer}(1)`) are kept, so such answers stay unlike a bare number."""
    out, pos = [], 0
    for _ in range(64):
        m = _TEXT_CMD.search(s, pos)
        if m is None:
            break
        group = _replace_group(s, m.end() - 1)
        if group is None:
            break
        content, end = group
        before = "".join(out) + s[pos : m.start()]
        words = re.findall(r"[^\s,]+", content.replace("\\ ", " "))
        unit_pow = re.match(r"\s*\^\s*\{?[23]\}?", s[end:])
        after = s[end + (unit_pow.end() if unit_pow else 0) :]
        has_math = bool(re.search(r"[0-9\\}]", before)) or bool(re.search(r"\d", before))
        lowered = [w.lower().strip(".") for w in words]
        is_unit = bool(words) and all(w in UNIT_WORDS or w.rstrip("s") in UNIT_WORDS for w in lowered)
        trailing_noun = (
            bool(words) and has_math and not re.sub(r"[\s.]", "", after)
            and all(w.isalpha() for w in lowered) and not any(w in LOGIC_WORDS for w in lowered)
        )
        out.append(s[pos : m.start()])
        if is_unit and has_math or trailing_noun:
            out.append(" ")
            pos = end + (unit_pow.end() if unit_pow else 0)
        else:
            out.append(" " + content + " " if re.fullmatch(r"\s*(?:and|or)\s*", content) else content)
            pos = end
    out.append(s[pos:])
    return "".join(out)


def _canonical_args(s: str, depth: int = 0) -> str:
    r"""Rewrite `\frac12`, `\frac 59`, `\frac9{19}`, `\sqrt2` into braced arguments (nested
    groups too, up to `MAX_NESTING` levels; deeper input is rejected by `screen` anyway)."""
    if depth > MAX_NESTING:
        return s
    out, i, n = [], 0, len(s)
    while i < n:
        m = re.compile(r"\\(frac|sqrt)(?![A-Za-z])").search(s, i)
        if m is None:
            out.append(s[i:])
            break
        out.append(s[i : m.end()])
        i = m.end()
        n_args = 2 if m.group(1) == "frac" else 1
        if m.group(1) == "sqrt" and i < n and s[i] == "[":
            close = s.find("]", i)
            if close < 0:
                out.append(s[i:])
                break
            out.append(s[i : close + 1])
            i = close + 1
        for _ in range(n_args):
            while i < n and s[i] == " ":
                i += 1
            if i >= n:
                break
            if s[i] == "{":
                group = _replace_group(s, i)
                if group is None:
                    out.append(s[i:])
                    i = n
                    break
                out.append("{" + _canonical_args(group[0], depth + 1) + "}")
                i = group[1]
            elif s[i] == "\\":
                cmd = re.match(r"\\[A-Za-z]+", s[i:])
                token = cmd.group(0) if cmd else s[i : i + 2]
                out.append("{" + token + "}")
                i += len(token)
            else:
                out.append("{" + s[i] + "}")
                i += 1
    return "".join(out)


_RELATIONS = (
    (re.compile(r"\\(?:geqslant|geq|ge)(?![A-Za-z])|≥|>="), " \\ge "),
    (re.compile(r"\\(?:leqslant|leq|le)(?![A-Za-z])|≤|<="), " \\le "),
    (re.compile(r"\\(?:neq|ne)(?![A-Za-z])|≠|!="), " \\ne "),
    (re.compile(r"\\gt(?![A-Za-z])"), " > "),
    (re.compile(r"\\lt(?![A-Za-z])"), " < "),
)
_LABEL = re.compile(
    r"(?:m\s*)?(?:\\angle\s*)?(?:"
    r"[A-Za-z]+(?:'+)?(?:_\{?\w+\}?)?"  # x, AB, k, a_n, a_{10}, f'
    r"|[A-Za-z](?:_\{?\w+\}?)?\^?\{?-?1?\}?\([^=()]*\)"  # f(x), f(2), P(A), f^{-1}(3)
    r"|\(\s*[A-Za-z]\w*(?:\s*,\s*[A-Za-z]\w*)+\s*\)"  # (a, b), (x, y, z)
    r"|[A-Za-z]+(?:\s*:\s*[A-Za-z]+)+"  # AB:CD
    r"|\\(?:alpha|beta|gamma|delta|theta|phi|varphi|psi|omega|lambda|mu|sigma|rho|tau)(?:_\{?\w+\}?)?"
    r"|\\(?:overline|overrightarrow|vec|mathbf)\{\s*\w+\s*\}"
    r")"
)


def split_top_equals(s: str) -> list[str]:
    """Split `s` on "=" outside brackets (`\\le`/`\\ge`/`\\ne` are not "=")."""
    return _split_top(s, "=")


def value_of(s: str) -> str:
    """Return the value a normalised answer states: `x = 5` -> `5`, `(a,b) = (2,5)` -> `(2,5)`,
    `AB:CD = 3:8` -> `3:8`, `y = 2+3 = 5` -> `5`, `x \\in [1,2]` -> `[1,2]`. An equation whose left
    side is not a label (`x + y = 5`) is its own value."""
    m = re.match(r"^\s*[A-Za-z](?:_\{?\w+\}?)?\s*\\in(?![A-Za-z])\s*(.+)$", s)
    if m:
        return m.group(1).strip()
    if len(_split_top(s, ",")) > 1 or _OR_SPLIT.search(s):
        return s  # a list: each item's label is dropped by `parse_structure`
    parts = split_top_equals(s)
    if len(parts) < 2 or not all(parts):
        return s
    if _LABEL.fullmatch(parts[0].strip()) or len(parts) > 2:
        return parts[-1]
    return s


def canonical_relations(s: str) -> str:
    """Spell relation operators one way: `\\geq`, `>=`, `≥` -> `\\ge`; `\\leq`, `<=` -> `\\le`; `!=`, `\\neq` -> `\\ne`."""
    for pattern, replacement in _RELATIONS:
        s = pattern.sub(lambda _m, r=replacement: r, s)
    return s


def normalize(answer: str, keep_label: bool = False) -> str:
    """Return a canonical spelling of a final answer (whitespace kept as single spaces).

    Strips math delimiters, `\\boxed`, `\\left`/`\\right`, spacing commands, degree signs, dollar
    signs, thousands separators (`12,345`, `12{,}345`, `12\\,345`) and units; `\\dfrac`/`\\tfrac`
    become `\\frac`; relation operators get one spelling. Unless `keep_label`, a leading label
    (`x = 5`, `(a,b) = (2,5)`, `x \\in [1, 2]`) is dropped and a chain `y = 2+3 = 5` gives its last
    value (see `value_of`). Hedge markers are left in place.
    """
    s = answer.strip()
    for _ in range(4):
        s = s.strip()
        if s.startswith("$") and s.endswith("$") and len(s) >= 2:
            s = s.strip("$")
        elif (s.startswith("\\(") and s.endswith("\\)")) or (s.startswith("\\[") and s.endswith("\\]")):
            s = s[2:-2]
        else:
            break
    s = s.replace("\n", " ").replace("\\!", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\mbox", "\\text").replace("\\textup", "\\text").replace("{,}", ",")
    s = s.replace("\\langle", "(").replace("\\rangle", ")")
    while True:  # \boxed{X} inside an answer is X
        m = re.search(r"\\(?:boxed|fbox)\s*\{", s)
        group = _replace_group(s, m.end() - 1) if m else None
        if group is None:
            break
        s = s[: m.start()] + group[0] + s[group[1] :]
    s = _STRIP_COMMANDS.sub("", s)
    s = re.sub(r"\\left\.|\\right\.", "", s)
    s = re.sub(r"(\d)\\,(?=\d{3}(?!\d))", r"\1", s)  # 12\,345
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    s = s.replace("\\%", "%").replace("\\$", "").replace("$", "")
    s = re.sub(r"\\(?:dots|ldots|cdots)", "...", s)
    s = canonical_relations(s)
    s = _canonical_args(s)
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    if _TEXT_CMD.search(s):
        s = _unwrap_text(s)
    words = s.split(" ")
    while len(words) > 1 and words[-1].strip("^23{}.") in UNIT_WORDS and re.search(r"\d", words[0]):
        words.pop()
    s = re.sub(r"\s+", " ", " ".join(words)).strip().rstrip(".").strip()
    if not keep_label:
        s = value_of(s)
    # Thousands separators in a plain number: 10,080 and 11,111,111,100.
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s.replace(" ", "")) and ", " not in s:
        s = s.replace(",", "").replace(" ", "")
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    m = re.fullmatch(r"\(?\s*([A-Ea-e])\s*\)", s)  # multiple-choice "(C)"
    if m:
        s = m.group(1).upper()
    return s


def compact(s: str) -> str:
    """Return the comparison key of a normalised answer: no whitespace, braces around single tokens removed."""
    k = re.sub(r"\s+", "", s)
    k = re.sub(r"_\{(\w)\}", r"_\1", k)
    k = re.sub(r"\^\{(\w)\}", r"^\1", k)
    return k


def hedge_markers(s: str) -> frozenset[str]:
    """Return the hedge/enumeration markers (`\\pm`, `\\lor`, `or`, ...) present in a normalised answer."""
    found = set()
    for m in _HEDGE.finditer(s):
        token = m.group(0)
        found.add("pm" if token in ("\\pm", "\\mp", "±", "∓") else "or")
    return frozenset(found)


def screen(s: str) -> bool:
    """Return True when a normalised answer is small and shallow enough to parse symbolically."""
    if len(s) > MAX_ANSWER_CHARS or "__" in s or "\x00" in s:
        return False
    depth = 0
    for c in s:
        if c in "{([":
            depth += 1
            if depth > MAX_NESTING:
                return False
        elif c in "})]":
            depth -= 1
    # Power towers: count exponents nested inside exponents.
    if _power_nesting(s) > MAX_POWER_NESTING:
        return False
    # Big literals where they explode: exponents, factorials, binomials, \underbrace tricks.
    for m in re.finditer(r"\^\s*\{?\s*-?(\d+)", s):
        if len(m.group(1)) > MAX_EXPONENT_DIGITS:
            return False
    for m in re.finditer(r"(\d+)\s*\}?\s*!", s):
        if int(m.group(1)[-6:]) > 1000 or len(m.group(1)) > 4:
            return False
    if "!" in s and re.search(r"!\s*!|\)\s*!|\}\s*!", s):
        return False
    for m in re.finditer(r"\\binom\s*\{\s*(\d+)", s):
        if len(m.group(1)) > 4:
            return False
    if re.search(r"\\binom", s) and re.search(r"\\binom[^!^]*[!^]", s):
        return False  # powers or factorials inside a binomial coefficient
    return not re.search(r"\d{200,}", s)


def _power_nesting(s: str) -> int:
    """Return the deepest nesting of exponents (`2^{2^{2}}` -> 3; a bare `2^2^2` chain counts too)."""
    best, stack, pending, chain = 0, [], False, 0
    for c in s:
        level = stack[-1] if stack else 0
        if c == "^":
            chain += 1
            best = max(best, level + chain)
            pending = True
        elif c == "{":
            stack.append(level + chain if pending else level)
            pending, chain = False, 0
        elif c == "}":
            if stack:
                stack.pop()
            pending, chain = False, 0
        elif c.isspace():
            continue
        elif pending and c.isalnum():
            pending = False  # a single-token exponent; a following "^" nests deeper (chain kept)
        else:
            pending, chain = False, 0 if not c.isalnum() else chain
    return best


# ---------------------------------------------------------------------------------------------
# Structure


@dataclass(frozen=True)
class Node:
    """A parsed answer shape. kind: "scalar" (text in `value`), "seq" (ordered items with
    brackets `open`/`close`), "set" (unordered items), "matrix" (rows of items), "union"."""

    kind: str
    value: str = ""
    items: tuple["Node", ...] = ()
    open: str = ""
    close: str = ""
    rows: int = 0


def _split_top(s: str, sep: str) -> list[str]:
    """Split `s` on `sep` outside any brackets."""
    parts, depth, start, i, n = [], 0, 0, 0, len(s)
    while i < n:
        c = s[i]
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            if sep[0] == "\\" and i + len(sep) < n and s[i + len(sep)].isalpha():
                i += 1
                continue
            parts.append(s[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


def _wrapped(s: str) -> bool:
    """Whether the bracket opening at s[0] closes exactly at s[-1]."""
    depth = 0
    for i, c in enumerate(s):
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return False
    return depth == 0


def _expand_pm(item: str) -> list[str]:
    """`a \\pm b` -> [`a + b`, `a - b`] (one consistent sign for every ± in the item)."""
    if not re.search(r"\\pm(?![A-Za-z])|\\mp(?![A-Za-z])|±|∓", item):
        return [item]
    plus = re.sub(r"\\mp(?![A-Za-z])|∓", "-", re.sub(r"\\pm(?![A-Za-z])|±", "+", item))
    minus = re.sub(r"\\mp(?![A-Za-z])|∓", "+", re.sub(r"\\pm(?![A-Za-z])|±", "-", item))
    return [plus, minus]


_REL_OP = re.compile(r"\\le(?![A-Za-z])|\\ge(?![A-Za-z])|\\ne(?![A-Za-z])|<|>")
_FLIP = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le", "\\ne": "\\ne"}
_INF, _NEG_INF = "\\infty", "-\\infty"


def _negated(x: str) -> str:
    x = x.strip()
    if x.startswith("-") and _wrapped_or_atom(x[1:]):
        return x[1:].strip()
    return "-" + x if _wrapped_or_atom(x) else "-(" + x + ")"


def _wrapped_or_atom(x: str) -> bool:
    x = x.strip()
    return bool(re.fullmatch(r"[\w.]+|\\[A-Za-z]+|\\frac\{[^{}]*\}\{[^{}]*\}|\\sqrt\{[^{}]*\}", x)) or (
        len(x) >= 2 and x[0] in "({[" and _wrapped(x)
    )


def _relation_parts(s: str) -> tuple[list[str], list[str]] | None:
    """Split `a < x \\le b` into (["a", "x", "b"], ["<", "\\le"]) at top level, or None."""
    terms, ops, depth, start, i = [], [], 0, 0, 0
    while i < len(s):
        c = s[i]
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif depth == 0:
            m = _REL_OP.match(s, i)
            if m:
                terms.append(s[start:i].strip())
                ops.append(m.group(0))
                start = i = m.end()
                continue
        i += 1
    terms.append(s[start:].strip())
    if not ops or not all(terms):
        return None
    return terms, ops


def relation_intervals(s: str) -> Node | None:
    """Return the interval(s) a one-variable relation describes, or None.

    `x \\ge 3` and `3 \\le x` -> `[3, \\infty)`; `-x < -2` -> `(2, \\infty)`; `1 \\le x \\le 4` -> `[1, 4]`;
    `x \\ne 1` -> `(-\\infty, 1) \\cup (1, \\infty)`; relations joined by "or" -> their union. The variable
    is a single letter, optionally negated; anything else is not read as a relation."""
    pieces = [p for p in re.split(r"\s+or\s+|\\lor(?![A-Za-z])|\\vee(?![A-Za-z])", s) if p.strip()]
    if len(pieces) > 1:
        nodes = [relation_intervals(p) for p in pieces]
        if any(n is None for n in nodes):
            return None
        items = tuple(x for n in nodes for x in (n.items if n.kind == "union" else (n,)))
        return Node("union", items=items)
    parsed = _relation_parts(s.strip())
    if parsed is None:
        return None
    terms, ops = parsed
    var_idx = [k for k, t in enumerate(terms) if re.fullmatch(r"-?\s*[A-Za-z]", t)]
    if len(var_idx) != 1:
        return None
    k = var_idx[0]
    negated = terms[k].startswith("-")
    if len(terms) == 2:
        op, other = ops[0], terms[1 - k]
        if k == 1:
            op = _FLIP[op]  # "3 < x" is "x > 3"
        if negated:
            op, other = _FLIP[op], _negated(other)
        if op == "\\ne":
            return Node("union", items=(_interval(_NEG_INF, other, "(", ")"), _interval(other, _INF, "(", ")")))
        if op in (">", "\\ge"):
            return _interval(other, _INF, "(" if op == ">" else "[", ")")
        return _interval(_NEG_INF, other, "(", ")" if op == "<" else "]")
    if len(terms) == 3 and k == 1 and "\\ne" not in ops:
        lo, hi, (op_lo, op_hi) = terms[0], terms[2], ops
        if all(o in ("<", "\\le") for o in ops):
            pass
        elif all(o in (">", "\\ge") for o in ops):
            lo, hi, op_lo, op_hi = hi, lo, _FLIP[op_hi], _FLIP[op_lo]
        else:
            return None
        if negated:
            lo, hi, op_lo, op_hi = _negated(hi), _negated(lo), op_hi, op_lo
        return _interval(lo, hi, "(" if op_lo == "<" else "[", ")" if op_hi == "<" else "]")
    return None


def _interval(lo: str, hi: str, open_: str, close: str) -> Node:
    return Node("seq", items=(Node("scalar", lo), Node("scalar", hi)), open=open_, close=close)


_OR_SPLIT = re.compile(r"\s+or\s+|\\lor(?![A-Za-z])|\\vee(?![A-Za-z])")


def or_as_list(s: str) -> str:
    """Return `s` with top-level "or" / `\\lor` joins written as commas (`-5 or 2` -> `-5, 2`)."""
    return ", ".join(p.strip() for p in _OR_SPLIT.split(s) if p.strip())


def parse_structure(s: str) -> Node:
    """Return the shape of a normalised answer (tuples, intervals, sets, matrices, unions, lists,
    relations in one variable as intervals)."""
    s = s.strip()
    inner = s[1:-1].strip() if len(s) >= 2 and s[0] in "([" and _wrapped(s) else ""
    if inner.startswith("\\begin{") and inner.endswith("}"):
        s = inner  # \left[ \begin{array}...\end{array} \right]
    if _REL_OP.search(s):
        relation = relation_intervals(s)
        if relation is not None:
            return relation
    m = re.fullmatch(r"\\begin\{([pbvB]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}", s, re.S)
    if m:
        rows = [r for r in _split_top(m.group(2), "\\\\") if r.strip()]
        cells = [_split_top(r, "&") for r in rows]
        width = len(cells[0]) if cells else 0
        if cells and all(len(r) == width for r in cells):
            flat = tuple(Node("scalar", c) for r in cells for c in r)
            return Node("matrix", items=flat, rows=len(cells))
        return Node("scalar", s)
    if re.search(r"\\cup(?![A-Za-z])", s):
        parts = _split_top(s, "\\cup")
        if len(parts) > 1:
            return Node("union", items=tuple(parse_structure(p) for p in parts))
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        items = [x for part in _split_top(inner, ",") for x in _expand_pm(value_of(part))]
        return Node("set", items=tuple(Node("scalar", x) for x in items if x))
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _wrapped(s):
        parts = _split_top(s[1:-1], ",")
        if len(parts) >= 2:
            return Node("seq", items=tuple(Node("scalar", p) for p in parts), open=s[0], close=s[-1])
    parts = _split_top(s, ",")
    parts = [x for p in parts for x in _split_top(p, " and ")]
    expanded = [x for p in parts for x in _expand_pm(value_of(p) if len(parts) > 1 else p)]
    if len(expanded) >= 2:
        return Node("set", items=tuple(Node("scalar", p) for p in expanded))
    return Node("scalar", s)


# ---------------------------------------------------------------------------------------------
# Plain numbers


_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"


def plain_number(s: str) -> tuple[Fraction, bool] | None:
    """Return (exact value, is_percent) of a plain number, or None.

    Accepts integers, decimals, `a/b`, `\\frac{a}{b}` (signs inside or outside), mixed numbers
    `1\\frac{4}{5}`, scientific notation `1.5e3` / `1.5 \\times 10^{3}` and a trailing percent.
    """
    k = re.sub(r"\s+", "", s)
    percent = k.endswith("%")
    if percent:
        k = k[:-1]
    if not k or len(k) > 64:
        return None
    try:
        if re.fullmatch(_NUM, k):
            return Fraction(k), percent
        m = re.fullmatch(rf"({_NUM})/({_NUM})", k)
        if m:
            return Fraction(m.group(1)) / Fraction(m.group(2)), percent
        m = re.fullmatch(r"([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}", k)
        if m:
            value = Fraction(int(m.group(2)), int(m.group(3)))
            return (-value if m.group(1) == "-" else value), percent
        m = re.fullmatch(r"([+-]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}", k)
        if m:
            value = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
            return (-value if m.group(1) == "-" else value), percent
        m = re.fullmatch(rf"({_NUM})(?:[eE]|(?:\\times|\\cdot|\*|x)10\^\{{?)([+-]?\d{{1,3}})\}}?", k)
        if m:
            return Fraction(m.group(1)) * Fraction(10) ** int(m.group(2)), percent
    except (ValueError, ZeroDivisionError):
        return None
    return None


_BASE = re.compile(r"([0-9A-Za-z]+)_\{?(\d+)\}?")


def base_number(s: str) -> tuple[str, str] | None:
    """Return (digits, base) of a numeral written in a base (`52_8`, `4210_{5}`), else None."""
    m = _BASE.fullmatch(re.sub(r"\s+", "", s))
    return (m.group(1).upper(), m.group(2)) if m else None


def is_words(s: str) -> bool:
    """Whether a normalised answer is plain words (a text answer such as `east`, `Evelyn`)."""
    words = s.split()
    return bool(words) and all(w.isalpha() and w.isascii() for w in words) and max(map(len, words)) >= 3
