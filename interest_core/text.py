"""Text from data or uploads, made safe to show inside markdown.

Streamlit renders st.markdown, st.caption, alerts, titles, widget labels and help as GitHub-flavoured
markdown plus its own syntax (``:red[...]``, ``:material/icon:``, emoji shortcodes, ``$math$``). A
category named ``[Claim your refund](https://evil.example/login)`` would show as a live link and
``![x](https://evil.example/pixel.png)`` would load a remote image. ``md_escape`` makes such text show
literally; ``md_code`` puts it in a code span (shown in monospace, as a name usually is).

Two kinds of markdown rule need two defences:

- syntax (links, images, emphasis, code, HTML, entities, tables, strikethrough, directives, math): a
  backslash before each character that can open such a construct (CommonMark reads a backslash before
  any ASCII punctuation as that literal character), and before a list, quote or heading marker at the
  start; other punctuation (``'.,-/``) stays as it is, so ids, dates and messages read unchanged;
- rules that run on the text after escapes are resolved (GFM's bare-URL and e-mail autolinks,
  Streamlit's ``:material/...:`` icons and emoji shortcodes): an invisible WORD JOINER (U+2060) before
  ``http``/``www.``/``@`` and after ``:`` so those patterns no longer match. The text reads the same.
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"
# Characters that open markdown constructs anywhere in a line, and the markers that open a block at its start.
_SYNTAX = re.compile(r"([\\`*_\[\]()<>!&~|$:#{}])")
_BLOCK_MARKER = re.compile(r"^(\d*)([-+=.])")
# Starts of what GFM links without any markup (checked on the unescaped text), and the ':' that opens
# Streamlit's icon/emoji shortcodes.
_AUTOLINK_START = re.compile(r"(?i)(?=https?:|www\.|@)")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def _inline(value: object) -> str:
    """One line of text: a line break in data must not start a new markdown block."""
    return _LINE_BREAKS.sub(" ", str(value))


def md_escape(value: object) -> str:
    """``value`` as text that every markdown element of Streamlit shows literally."""
    text = _AUTOLINK_START.sub(WORD_JOINER, _inline(value).strip())  # leading spaces could open a code block
    text = _SYNTAX.sub(r"\\\1", text.replace(":", ":" + WORD_JOINER))
    # '- x', '+ x', '1. x' at the start of an alert or caption would be a list: escape the marker's end.
    return _BLOCK_MARKER.sub(r"\1\\\2", text, count=1)


def md_code(value: object) -> str:
    """``value`` as an inline code span: shown literally in monospace, whatever backticks it holds.

    Inside a code span no markdown applies and backslashes stay; only a run of backticks as long as
    the fence ends it, so the fence is one longer than the longest run in the text.
    """
    text = _inline(value).replace(":", ":" + WORD_JOINER)  # no directive or shortcode, should a renderer look
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if not text:
        return "` `"
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# -- counts and shares in words (shared formatters: every page says "2 categories" and "45%" the same way) --

_PLURALS = {"category": "categories", "person": "people", "activity": "activities", "was": "were", "is": "are"}


def percent(share: float, digits: int = 0) -> str:
    """A share as a percentage a person reads: '9%', '<1%' (never '0%' for a small non-zero share), '>99%'."""
    if share != share:  # NaN
        return "n/a"
    small = 10.0 ** -digits / 100
    if 0 < share < small:
        return f"<{small:.{digits}%}"
    if 1 - small < share < 1:
        return f">{1 - small:.{digits}%}"
    return f"{share:.{digits}%}"


def plural(word: str, n: float) -> str:
    """'brand' -> 'brands' unless n is 1; 'category' -> 'categories', 'box' -> 'boxes', 'person' -> 'people'."""
    if round(float(n)) == 1:
        return word
    return _PLURALS.get(word) or (word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou"
                                  else word + "es" if word.endswith(("s", "x", "ch", "sh")) else word + "s")


def counted(n: float, word: str) -> str:
    """A count with its noun in the right number: '1 week', '3 weeks', '1,200 categories'."""
    count = round(float(n))
    return f"{count:,} {plural(word, count)}"


def signed_percent(now: float, before: float) -> str | None:
    """The change from ``before`` to ``now`` as '+12%' / '-3%' ('+0.4%' under 1%); None when before is 0."""
    if not before:
        return None
    change = (float(now) - float(before)) / float(before)
    return f"{change:+.1%}" if abs(change) < 0.01 else f"{change:+.0%}"
