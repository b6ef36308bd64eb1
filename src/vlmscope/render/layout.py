"""Plain-text layout for the terminal: wrapping at spaces only, and facts × models tables split into groups of
model columns that fit the width. Nothing here splits a number, an identifier or a word: a word wider than
the widest column it could get is shortened with an ellipsis instead."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len

ELLIPSIS = "…"
GAP = 3  # a rich SIMPLE table without edge padding: 1 + 1 padding and a 1-cell separator between columns
LABEL_MAX = 16  # the fact column wraps its labels at spaces beyond this
WANT_MAX = 28  # a model column asks for no more than this before its cells wrap
WORD_MAX = 28  # a longer word is shortened (not with wide), so that two models fit side by side at 80 columns;
# wider terminals allow a quarter of their width (more when there are fewer than four models)


def _words(text: str) -> list[str]:
    return [w for line in text.splitlines() for w in line.split(" ") if w]


def longest_word(text: str) -> int:
    return max((cell_len(w) for w in _words(text)), default=0)


def longest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _fit(chars: str, width: int) -> str:
    out = ""
    for ch in chars:
        if cell_len(out + ch) > width:
            break
        out += ch
    return out


def shorten(word: str, width: int) -> str:
    """``word`` in at most ``width`` cells: whole when it fits, else its first third and its end around an
    ellipsis (``https://h…Phi-3-vision-128k-instruct``), since ids and URLs differ at the end."""
    if cell_len(word) <= width:
        return word
    if width < 2:
        return ELLIPSIS[:width]
    head = _fit(word, (width - 1) // 3)
    tail = _fit(word[::-1], width - 1 - cell_len(head))[::-1]
    return head + ELLIPSIS + tail


def wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` cells, at spaces only (its own line breaks kept)."""
    width = max(width, 1)
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in (shorten(w, width) for w in paragraph.split(" ") if w):
            if line and cell_len(line) + 1 + cell_len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class Group:
    """Some of the model columns (by index) and the width each gets."""

    columns: tuple[int, ...]
    widths: tuple[int, ...]


def label_width(labels: list[str], width: int, share: int = 3) -> int:
    """The fact column: as wide as its longest label up to LABEL_MAX, never narrower than its longest word,
    and at most 1/``share`` of the width."""
    want = max(min(longest_line(x), LABEL_MAX) for x in labels) if labels else 0
    return min(max(want, *(longest_word(x) for x in labels), 1), max(width // share, 1))


def groups(columns: list[list[str]], label: int, width: int, wide: bool = False, together: bool = False) -> list[Group]:
    """Split the model columns (each a list of cell texts, the header first) into consecutive groups whose
    table fits ``width`` cells beside a fact column of width ``label``. Each column gets at least its longest
    word up to WORD_MAX (``wide``: up to what a column alone can hold), and the slack goes to columns whose
    cells would otherwise wrap. ``together`` keeps every column in one group (a diff's two models), each
    column then holding at most its share of the width."""
    room = max(width - label - GAP + 1, 1)  # what the model columns of one group share, gaps included
    share = room // max(min(len(columns), 4), 1) - GAP  # a quarter of the width, or more with fewer models
    cap = max(room - GAP, 1) if wide else min(max(WORD_MAX, share), max(room - GAP, 1))
    if together:
        cap = max(room // max(len(columns), 1) - GAP, 1)
    need = [min(max(max(longest_word(c) for c in col), 1), cap) for col in columns]
    want = [max(n, min(max(longest_line(c) for c in col), WANT_MAX)) for n, col in zip(need, columns, strict=True)]
    spans: list[list[int]] = [[]]
    for i, n in enumerate(need):
        if spans[-1] and not together and sum(need[j] + GAP for j in spans[-1]) + n + GAP > room:
            spans.append([])
        spans[-1].append(i)
    spans = _balanced(spans, need, room)
    return [Group(tuple(span), _spread([need[i] for i in span], [want[i] for i in span], room))
            for span in spans]


def _balanced(spans: list[list[int]], need: list[int], room: int) -> list[list[int]]:
    """The same number of groups with their sizes as even as they can be (9 models in two groups: 5 and 4, not
    8 and 1), when every such group still fits."""
    count, total = len(spans), sum(len(s) for s in spans)
    sizes = [total // count + (1 if k < total % count else 0) for k in range(count)]
    starts = [sum(sizes[:k]) for k in range(count)]
    even = [list(range(s, s + n)) for s, n in zip(starts, sizes, strict=True)]
    fits = all(sum(need[j] + GAP for j in span) <= room for span in even)
    return even if fits else spans


def _spread(need: list[int], want: list[int], room: int) -> tuple[int, ...]:
    """Widths from ``need`` up towards ``want``, one cell at a time to the column furthest below its want."""
    widths = list(need)
    slack = room - sum(w + GAP for w in widths)
    while slack > 0:
        short = [i for i in range(len(widths)) if widths[i] < want[i]]
        if not short:
            break
        i = max(short, key=lambda k: want[k] - widths[k])
        widths[i] += 1
        slack -= 1
    return tuple(widths)
