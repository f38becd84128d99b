"""Pure, in-process text handling for the verifier: normalisation, screening, structure splitting and the
exact plain-number comparison (where the answer is: `_verifier_extract`).

Everything here is linear-time string work (no regex with nested quantifiers, no recursion on
untrusted depth) and never evaluates text. The symbolic remainder goes to `_verifier_worker`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from fractions import Fraction

from astro_env._verifier_eval import MAX_VALUE_DIGITS, power_digits
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


def find_boxes(text: str) -> Boxes:
    """Every top-level `\\boxed{...}` / `\\fbox{...}` / `\\boxed X` of `text` (`astro_env.boxes.scan_boxes`)."""
    return scan_boxes(text)


# ---------------------------------------------------------------------------------------------
# Normalisation


_STRIP_COMMANDS = re.compile(
    r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|displaystyle|textstyle|limits)(?![A-Za-z])"
)
_SPACING = re.compile(r"(?<!\\)\\(?:[,;:! ]|(?:quad|qquad|enspace|thinspace)(?![A-Za-z]))|~")
_TEXT_CMD = re.compile(
    r"\\(?:text|mbox|textbf|textit|textrm|textnormal|textsf|texttt|emph|mathrm|mathbf|mathit|mathsf|mathtt"
    r"|mathnormal|operatorname|hbox)\s*\{"
)
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![A-Za-z])|\^\s*\{\s*\\text\{o\}\s*\}")
_HEDGE = re.compile(
    r"\\(?:lor|vee|pm|mp)(?![A-Za-z])|±|∓|\\text\{\s*or\s*\}|\\mathrm\{\s*or\s*\}|(?<![A-Za-z\\])or(?![A-Za-z])"
    r"|(?<=[\d)\]}])or(?=[A-Z(\[{])"
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
    all every""".split()
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
    r"|[A-Za-z]+(?:_\{?\w+\}?)?(?:\s*:\s*[A-Za-z]+(?:_\{?\w+\}?)?)+"  # AB:CD, V_1:V_2, S_{MBCN}:S
    r"|\\frac\{[A-Za-z]+\}\{[A-Za-z]+\}"  # \frac{NO}{BO}
    r"|\|[A-Za-z]+\|"  # |AB|
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
    if len(s) >= 2 and s[0] == "(" and _wrapped(s) and len(split_top_equals(s[1:-1])) > 1 and len(_split_top(s[1:-1], ",")) == 1:
        return value_of(s[1:-1].strip())  # "(35 + 70 = 105)"
    if len(_split_top(s, ",")) > 1 or len(_split_top(s, " and ")) > 1 or _OR_SPLIT.search(s):
        return s  # a list: each item's label is dropped by `parse_structure`
    approx = _split_top(s, "\\approx")
    if len(approx) == 2 and all(approx):
        # "x \approx 11" states 11; "x = 1/3 \approx 0.33" and "\frac{\sqrt3}{3} \approx 0.577" state the exact value
        left = approx[0].strip()
        return approx[1] if _LABEL.fullmatch(left) else value_of(left)
    parts = split_top_equals(s)
    if len(parts) < 2 or not all(parts):
        return s
    if _LABEL.fullmatch(parts[0].strip()) or len(parts) > 2:
        return parts[-1]
    if not re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", parts[0])) and plain_number(parts[1]) is not None:
        return parts[1]  # "35 + 70 = 105": a computation whose result is the value
    return s


def canonical_relations(s: str) -> str:
    """Spell relation operators one way: `\\geq`, `>=`, `≥` -> `\\ge`; `\\leq`, `<=` -> `\\le`; `!=`, `\\neq` -> `\\ne`."""
    for pattern, replacement in _RELATIONS:
        s = pattern.sub(lambda _m, r=replacement: r, s)
    return s


_DOUBLED_COMMAND = re.compile(
    r"\\\\(?=(?:left|right|frac|dfrac|tfrac|cfrac|sqrt|boxed|text|mathrm|mathbf|pi|cdot|times|infty|le|ge|leq|geq"
    r"|ne|neq|lt|gt|in|pm|mp|circ|approx|cup|cap)(?![A-Za-z]))"
)
_CURRENCY = re.compile(r"[€£¥]|\\(?:euro|pounds)(?![A-Za-z])")
_PERCENT_WORD = re.compile(r"(?<=[\d}])\s*(?:%|\\text\{\s*%\s*\}|(?:per\s*cent(?:age)?s?|pct)(?![A-Za-z]))")


_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")


def unbox(s: str) -> str:
    """Return `s` with every `\\boxed{...}` / `\\fbox{...}` replaced by its content, nested ones too, in one linear
    pass (2,000 nested boxes cost no more than their length). A box whose brace never closes loses its opening."""
    if "\\boxed" not in s and "\\fbox" not in s:
        return s
    out, stack, i, n = [], [], 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            m = _BOX_OPEN.match(s, i)
            if m:
                stack.append(True)
                i = m.end()
                continue
            if i + 1 < n and s[i + 1] in "{}":
                out.append(s[i : i + 2])
                i += 2
                continue
        if c == "{":
            stack.append(False)
            out.append(c)
        elif c == "}":
            if not (stack and stack.pop()):
                out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)



def _strip_trailing(s: str) -> str:
    """Collapse whitespace and drop sentence punctuation and a stray trailing backslash (`5.`, `1/3,`, `185\\`)."""
    s = re.sub(r"\s+", " ", s).strip()
    for _ in range(4):
        if s.endswith("..."):
            break  # an ellipsis is part of the answer ("1, 2, 3, ...")
        stripped = re.sub(r"(?<!\\)\\$|(?<!\.)[.,;]$", "", s).strip()
        if stripped == s:
            break
        s = stripped
    return s


def normalize(answer: str, keep_label: bool = False) -> str:
    """Return a canonical spelling of a final answer (whitespace kept as single spaces). Answers up to 2,000
    characters are memoised (a call asks for the same spelling several times); `clear_caches()` empties the memo.

    Strips math delimiters, `\\boxed`, `\\left`/`\\right`, spacing commands, degree signs, dollar
    signs, thousands separators (`12,345`, `12{,}345`, `12\\,345`) and units; `\\dfrac`/`\\tfrac`
    become `\\frac`; relation operators get one spelling. Unless `keep_label`, a leading label
    (`x = 5`, `(a,b) = (2,5)`, `x \\in [1, 2]`) is dropped and a chain `y = 2+3 = 5` gives its last
    value (see `value_of`). Hedge markers are left in place.
    """
    if len(answer) <= 2000:
        return _normalize_memo(answer, keep_label)
    return _normalize(answer, keep_label)


@functools.lru_cache(maxsize=4096)
def _normalize_memo(answer: str, keep_label: bool) -> str:
    return _normalize(answer, keep_label)


def _normalize(answer: str, keep_label: bool) -> str:
    s = answer.strip()
    for _ in range(4):
        s = s.strip()
        if s.startswith("$") and s.endswith("$") and len(s) >= 2:
            s = s.strip("$")
        elif (s.startswith("\\(") and s.endswith("\\)")) or (s.startswith("\\[") and s.endswith("\\]")):
            s = s[2:-2]
        else:
            break
    if "\\\\" in s:
        s = _DOUBLED_COMMAND.sub(r"\\", s)  # "\\\\frac" written for "\\frac" (a string escaped twice)
    if "\n" in s:
        s = re.sub(r"(\d)[ \t]*\n\s*(?=[-\d])", r"\1, ", s)  # numbers on separate lines are separate answers
    if "," in s:
        s = re.sub(r",\\!\s*", ",", s)  # 11,\! 111: a thousands separator, spaces and all
        s = re.sub(r"\s*\{\s*,\s*\}\s*", ",", s)  # 14{,}916 and 14 {, }916
    s = s.replace("\n", " ").replace("\\!", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\cfrac", "\\frac").replace("\\mbox", "\\text").replace("\\textup", "\\text")
    s = s.replace("\\lvert", "|").replace("\\rvert", "|").replace("\\vert", "|")
    s = s.replace("\\langle", "(").replace("\\rangle", ")")
    s = unbox(s)  # \boxed{X} inside an answer is X
    s = _STRIP_COMMANDS.sub("", s)
    s = re.sub(r"\\left\.|\\right\.", "", s)
    s = re.sub(r"(\d)\\,(?=\d{3}(?!\d))", r"\1", s)  # 12\,345
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    s = s.replace("\\%", "%").replace("\\$", "").replace("$", "")
    s = _CURRENCY.sub("", s)
    s = _PERCENT_WORD.sub("%", s)
    s = re.sub(r"(^|[,(\[\s])\+\s*\\infty", r"\1\\infty", s)  # +\infty is \infty
    s = re.sub(r"\\(?:dots|ldots|cdots)", "...", s)
    s = canonical_relations(s)
    s = _canonical_args(s)
    s = _strip_trailing(s)
    if _TEXT_CMD.search(s):
        s = _unwrap_text(s)
    words = s.split(" ")
    while len(words) > 1 and words[-1].strip("^23{}.") in UNIT_WORDS and re.search(r"\d", words[0]):
        words.pop()
    s = _strip_trailing(re.sub(r"\s+", " ", " ".join(words)))
    if not keep_label:
        s = value_of(s)
    # Thousands separators in a plain number: 10,080 and 11,111,111,100.
    if re.fullmatch(r"-?(?:[1-9]\d{0,2}|0)(?:,\d{3})+(?:\.\d+)?", s.replace(" ", "")) and ", " not in s and not s.lstrip("-").startswith("0,"):
        s = s.replace(",", "").replace(" ", "")
    if re.fullmatch(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?", s):  # 1 000: a thin-space thousands separator
        s = s.replace(" ", "")
    s = _strip_trailing(s)
    m = re.fullmatch(r"\(?\s*([A-Ea-e])\s*\)", s)  # multiple-choice "(C)"
    if m:
        s = m.group(1).upper()
    return s


def clear_caches() -> None:
    """Empty the normalisation memo (benchmarks measure cold calls)."""
    _normalize_memo.cache_clear()


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
    # Power towers: count exponents nested inside exponents, and bound the size of every power.
    if _power_nesting(s) > MAX_POWER_NESTING:
        return False
    if "^" in s and power_digits(s) > MAX_VALUE_DIGITS:
        return False  # 9^{9^{9^{9}}}, 2^{2^{100}}: no value this large is parsed
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
            if sep == "=" and ((i > 0 and s[i - 1] in "<>!=") or (i + 1 < n and s[i + 1] == "=")):
                i += 1  # <=, >=, != and == are relations, not an equation's sides
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
    absolute = [k for k, t in enumerate(terms) if _ABS_VAR.fullmatch(t)]
    if len(absolute) == 1 and not any(_VAR.fullmatch(t) for t in terms):
        return _absolute_intervals(terms, ops, absolute[0])
    var_idx = [k for k, t in enumerate(terms) if _VAR.fullmatch(t)]
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


_VAR = re.compile(r"-?\s*[A-Za-z](?:_\{?\w+\}?)?(?:\s*\(\s*[A-Za-z]\s*\))?")
"""The variable of a one-variable relation: `x`, `-x`, `a_n`, `f(x)`."""
_ABS_VAR = re.compile(r"\|\s*[A-Za-z](?:_\{?\w+\}?)?\s*\|")


def _absolute_intervals(terms: list[str], ops: list[str], k: int) -> Node | None:
    """The intervals of x where a relation on |x| holds (`1 \\le |z| \\le 3/2` -> `[-3/2, -1] \\cup [1, 3/2]`), for
    plain-number bounds only; None otherwise."""
    probe = list(terms)
    probe[k] = "t"
    node = relation_intervals(" ".join(x for pair in zip(probe, ops + [""]) for x in pair).strip())
    if node is None or node.kind != "seq":
        return None
    lo, hi = node.items[0].value, node.items[1].value
    lo_v = None if lo == _NEG_INF else plain_number(lo)
    hi_v = None if hi == _INF else plain_number(hi)
    if (lo != _NEG_INF and lo_v is None) or (hi != _INF and hi_v is None) or (lo_v and lo_v[1]) or (hi_v and hi_v[1]):
        return None
    if hi_v is not None and hi_v[0] <= 0:
        return None  # |x| < 0 or |x| <= 0: empty or a point, not worth a rule
    if lo_v is None or lo_v[0] < 0 or (lo_v[0] == 0 and node.open == "["):
        if hi_v is None:
            return None  # every x
        return _interval(_negated(hi), hi, "(" if node.close == ")" else "[", node.close)  # |x| < b
    mirror = {"(": ")", "[": "]", ")": "(", "]": "["}
    right = _interval(lo, hi, node.open, node.close)
    left = _interval(_NEG_INF if hi_v is None else _negated(hi), _negated(lo), "(" if hi_v is None else mirror[node.close], mirror[node.open])
    return Node("union", items=(left, right))


_OR_SPLIT = re.compile(
    r"\s+or\s+|(?<=[\d)\]}])\s*or\s*(?=[A-Z(\[{])|\\lor(?![A-Za-z])|\\vee(?![A-Za-z])"
)
"""A top-level "or" joining answers: spaced, or glued between a value and the next one (`(11,7)or(7,11)`)."""


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
    if s.startswith("{") and s.endswith("}") and _wrapped(s) and len(_split_top(s[1:-1], ",")) > 1:
        s = "\\{" + s[1:-1] + "\\}"  # {1, 3}: braces written for a set
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        items = [x for part in _split_top(inner, ",") for x in _expand_pm(value_of(part))]
        return Node("set", items=tuple(_item(x) for x in items if x), open="{", close="}")
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _wrapped(s):
        parts = _split_top(s[1:-1], ",")
        if len(parts) < 2 and ";" in s:
            parts = _split_top(s[1:-1], ";")  # (0; -2; 6)
        if len(parts) >= 2:
            return Node("seq", items=tuple(Node("scalar", p) for p in parts), open=s[0], close=s[-1])
    groups = _groups(s)
    if groups is not None:
        return Node("set", items=tuple(groups))
    parts = _split_top(s, ",")
    parts = [x for p in parts for x in _split_top(p, " and ")]
    expanded = [x for p in parts for x in _expand_pm(value_of(p) if len(parts) > 1 else p)]
    if len(expanded) >= 2:
        return Node("set", items=tuple(_item(p) for p in expanded))
    return Node("scalar", s)


_ASSIGNMENT = re.compile(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(\S.*)")


def _item(s: str) -> Node:
    """The shape of one element of a list or set: a tuple or interval keeps its shape, anything else is a scalar."""
    s = s.strip()
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _wrapped(s):
        node = parse_structure(s)
        if node.kind == "seq":
            return node
    return Node("scalar", s)


def _groups(s: str) -> list[Node] | None:
    """The solutions of a list of solution groups, or None: `-12; -11; -10` (semicolons), and groups of assignments
    `p=5, q=2; p=7, q=2` or `p = 5, q = 2 and p = 7, q = 2`, each group the tuple of its values, `(5, 2)`."""
    parts = _split_top(s, ";")
    if len(parts) < 2:
        parts = _split_top(s, " and ")
        if len(parts) < 2 or not all(len(_split_top(p, ",")) > 1 and _values_of_assignments(p) for p in parts):
            return None
    if not all(parts) or len(parts) > MAX_ITEMS:
        return None
    nodes = []
    for part in parts:
        values = _values_of_assignments(part)
        if values is not None and len(values) > 1:
            nodes.append(Node("seq", items=tuple(Node("scalar", v) for v in values), open="(", close=")"))
        else:
            nodes.append(_item(value_of(part)))
    return nodes


def _values_of_assignments(s: str) -> list[str] | None:
    """`p=5, q=2` -> ["5", "2"]; None unless every comma-separated part is `name = value`."""
    values = []
    for part in _split_top(s, ","):
        m = _ASSIGNMENT.fullmatch(part)
        if m is None:
            return None
        values.append(m.group(1).strip())
    return values


# ---------------------------------------------------------------------------------------------
# Plain numbers


_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"


def plain_number(s: str) -> tuple[Fraction, bool] | None:
    """Return (exact value, is_percent) of a plain number, or None.

    Accepts integers, decimals, `a/b`, `\\frac{a}{b}` (signs inside or outside), mixed numbers
    `1\\frac{4}{5}`, scientific notation `1.5e3` / `1.5 \\times 10^{3}` and a trailing percent.
    """
    m = _MIXED_SPACE.fullmatch(s.strip().rstrip("%").strip())
    if m:  # 4 4/9 is 40/9: a proper fraction after a whole number (1 000 4/9 too)
        whole, num, den = int(m.group(2).replace(" ", "")), int(m.group(3)), int(m.group(4))
        if den == 0 or num >= den:
            return None
        value = whole + Fraction(num, den)
        return (-value if m.group(1) == "-" else value), s.strip().endswith("%")
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


_MIXED_SPACE = re.compile(r"([+-]?)(\d{1,3}(?: \d{3})+|\d+)[ \t]+(\d+)/(\d+)")
"""A mixed number written with a space: `4 4/9`, `-4 4/9`, `1 000 4/9`."""


def is_mixed_number(s: str) -> bool:
    """Whether `s` is written as a mixed number with a space (`4 4/9`), proper or not (`11 6/6`)."""
    return _MIXED_SPACE.fullmatch(s.strip().rstrip("%").strip()) is not None


def canonical_integer(s: str) -> str | None:
    """The canonical digits of an integer of any length (`-0012,345` -> `-12345`: sign, digits, no leading zeros,
    thousands separators allowed), else None. Integers compare by these strings, so a 5,000-digit integer is
    compared without converting it (Python refuses `int()` of more than 4,300 digits)."""
    k = s.strip()
    if not k or not (k.lstrip("+-").isdigit() or _GROUPED_INT.fullmatch(k)):
        return None
    digits = k.lstrip("+-").replace(",", "").lstrip("0") or "0"
    return ("-" if k.startswith("-") and digits != "0" else "") + digits


_GROUPED_INT = re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+")


_BASE = re.compile(r"([0-9A-Za-z]+)_\{?(\d+)\}?")


def base_number(s: str) -> tuple[str, str] | None:
    """Return (digits, base) of a numeral written in a base (`52_8`, `4210_{5}`), else None."""
    m = _BASE.fullmatch(re.sub(r"\s+", "", s))
    return (m.group(1).upper(), m.group(2)) if m else None


def is_words(s: str) -> bool:
    """Whether a normalised answer is plain words (a text answer such as `east`, `Evelyn`)."""
    words = s.split()
    return bool(words) and all(w.isalpha() and w.isascii() for w in words) and max(map(len, words)) >= 3
