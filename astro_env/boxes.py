"""The one scanner of boxed answers: `\\boxed{...}`, `\\fbox{...}` and bare `\\boxed X`.

Every part of the project that looks for a final answer's box uses `scan_boxes`: the verifier's
extraction, the Countdown checker, the trace verbaliser and parser, the oracle, the loaders that
take a training set's answer from its solution. Braces are matched with nesting (escaped `\\{`
`\\}` do not count); a box whose braces never close makes the text `truncated` (a completion cut
off mid-answer) and ends the scan. Pure, no imports beyond `re`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOX_START = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")


@dataclass(frozen=True)
class Box:
    """One top-level box: `text[start:end]` is the whole box, `text[inner_start:inner_end]` its content."""

    start: int
    end: int
    inner_start: int
    inner_end: int
    content: str
    braced: bool
    """False for the bare form `\\boxed 5` (a single token up to whitespace or `$`)."""


@dataclass(frozen=True)
class Boxes:
    """The top-level boxes of a text, in order. `truncated` is True when the last box opened but
    its braces never close (a completion cut off mid-answer)."""

    boxes: tuple[Box, ...]
    truncated: bool

    @property
    def contents(self) -> tuple[str, ...]:
        """Each box's content, in order (an empty string for a `\\boxed` with nothing usable after it)."""
        return tuple(b.content for b in self.boxes)

    @property
    def braced(self) -> tuple[Box, ...]:
        """Only the `\\boxed{...}` / `\\fbox{...}` forms."""
        return tuple(b for b in self.boxes if b.braced)


def scan_boxes(text: str) -> Boxes:
    """Every top-level box of `text` (see the module docstring).

    >>> scan_boxes(r"so \\boxed{\\frac{1}{2}} and \\boxed 3.").contents
    ('\\\\frac{1}{2}', '3')
    """
    boxes: list[Box] = []
    pos, n = 0, len(text)
    while True:
        m = _BOX_START.search(text, pos)
        if m is None:
            return Boxes(tuple(boxes), False)
        i = m.end()
        while i < n and text[i] in " \t\n":
            i += 1
        if i < n and text[i] == "{":
            depth, j = 0, i
            while j < n:
                c = text[j]
                if c == "\\" and j + 1 < n and text[j + 1] in "{}":
                    j += 2
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= n:
                return Boxes(tuple(boxes), True)
            boxes.append(Box(m.start(), j + 1, i + 1, j, text[i + 1 : j], True))
            pos = j + 1
        elif i > m.end() and i < n and text[i] not in "$\n":
            j = i  # "\boxed 5": a single token up to whitespace or a math delimiter
            while j < n and text[j] not in " \t\n$":
                j += 1
            content = text[i:j].rstrip(".,;")
            boxes.append(Box(m.start(), j, i, i + len(content), content, False))
            pos = j
        elif i >= n:
            return Boxes(tuple(boxes), True)
        else:
            boxes.append(Box(m.start(), i, i, i, "", False))  # "\boxed" with nothing usable after it: an empty answer
            pos = i
