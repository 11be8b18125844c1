"""Text from data or uploads never renders as live markdown (issue 13, item 7).

Streamlit's markdown is GitHub-flavoured (micromark + mdast) plus its own directives. ``rendered``
models what reaches the browser: markdown-it's CommonMark parse for links, images and HTML (the syntax
pass), then GFM's literal autolinks and Streamlit's ``:material/...:`` / emoji shortcodes on the text
with escapes resolved (the pass mdast-util-gfm-autolink-literal and Streamlit's plugins run on text
nodes), and ``:color[...]`` directives on the source.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.protobuf.message import Message
from markdown_it import MarkdownIt
from markdown_it.token import Token

from app import PAGES
from interest_core.ingest import pipeline
from interest_core.ingest.formats import ColumnMapping
from interest_core.store import Store
from interest_core.text import WORD_JOINER, md_code, md_escape
from tests.apptest import check_clean, run_app, temp_store
from ui.startup import preload_markup

ROOT = Path(__file__).resolve().parents[1]

LINK = "[Claim your refund](https://evil.example/login)"
IMAGE = "![x](https://evil.example/pixel.png)"
HOSTILE = [
    LINK, IMAGE, "https://evil.example/bare", "www.evil.example", "mail me: a@evil.example",
    "<img src=https://evil.example/h.png>", "<a href='https://evil.example'>x</a>", "**bold** _it_ ~~gone~~",
    ":red[alarm] :material/warning: :smile:", "`code` ``two``", "$x^2$", "# heading", "1. list", "> quote",
    "a | b\n--- | ---\n1 | 2", "line\n\n![x](https://evil.example/p2.png)", "back\\slash\\[x](https://evil.example)",
    "[ref]: https://evil.example/ref", "<https://evil.example/auto>", "- item", "+ item", "2) x", "3. y",
    "    indented code", "=== x", "&lt;b&gt; &#91;", "[^1] note",
]
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# GFM literal autolinks on resolved text: a URL or www. start, or an e-mail, after start/space/punctuation.
AUTOLINK = re.compile(r"(?i)(https?://|www(?=\.))[-.\w]+|[-.\w+]+@[-\w]+(?:\.[-\w]+)+")
SHORTCODE = re.compile(r":(material|material_symbols)/\w+:|:[a-z][a-z0-9_+-]*:")
DIRECTIVE = re.compile(r"(?<!\\):[a-z-]+\[")


@dataclass
class Rendered:
    links: list[str] = field(default_factory=list)  # href / src of links, images and autolinks
    html: list[str] = field(default_factory=list)
    text: str = ""  # the visible text (escapes resolved, word joiners removed)
    shortcodes: list[str] = field(default_factory=list)


def _walk(tokens: list[Token]) -> Iterator[Token]:
    for tok in tokens:
        yield tok
        yield from _walk(tok.children or [])


def _starts_link(text: str, at: int) -> bool:
    if at == 0:
        return True
    prev = text[at - 1]
    return prev.isspace() or unicodedata.category(prev).startswith(("P", "S"))


def rendered(markdown: str) -> Rendered:
    out = Rendered()
    resolved = []
    for tok in _walk(PARSER.parse(markdown)):
        if tok.type == "link_open":
            out.links.append(str(tok.attrs.get("href")))
        elif tok.type == "image":
            out.links.append(str(tok.attrs.get("src")))
        elif tok.type in ("html_inline", "html_block"):
            out.html.append(tok.content)
        elif tok.type == "text":
            resolved.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            resolved.append(" ")
        elif tok.type == "code_inline":
            resolved.append(" ")  # a code span is a node of its own: the text rules skip it
    joined = "".join(resolved)
    out.links += [m.group(0) for m in AUTOLINK.finditer(joined) if _starts_link(joined, m.start())]
    out.shortcodes = [m.group(0) for m in SHORTCODE.finditer(joined)] + DIRECTIVE.findall(markdown)
    out.text = joined.replace(WORD_JOINER, "")
    return out


def _code_text(markdown: str) -> list[str]:
    return [t.content.replace(WORD_JOINER, "") for t in _walk(PARSER.parse(markdown)) if t.type == "code_inline"]


def test_the_model_sees_what_the_browser_would() -> None:
    """The checker itself: raw hostile text renders live (else the tests below could not fail)."""
    assert rendered(LINK).links == ["https://evil.example/login"]
    assert rendered(IMAGE).links == ["https://evil.example/pixel.png"]
    assert rendered("see https://evil.example/bare").links
    assert rendered("\\[x\\]\\(https\\://evil\\.example\\)").links  # escapes alone leave the bare URL live
    assert rendered("<b>x</b>").html
    assert rendered(":material/warning:").shortcodes and rendered(":red[x]").shortcodes


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("around", ["{}", "**Top categories:** {} 40% · other", "- {}", "Dataset `x`: {}."])
def test_escaped_text_shows_literally_and_links_nothing(text: str, around: str) -> None:
    markdown = around.format(md_escape(text))
    shown = rendered(markdown)
    assert not shown.links and not shown.html and not shown.shortcodes, shown
    assert " ".join(text.split()) in " ".join(shown.text.split())
    blocks = [t.type for t in PARSER.parse(markdown) if t.nesting == 1]
    assert blocks in (["paragraph_open"], ["bullet_list_open", "list_item_open", "paragraph_open"]), blocks


@pytest.mark.parametrize("text", [*HOSTILE, "`", "``x`", " lead", "trail` ", "a```b`c"])
def test_code_span_holds_any_text(text: str) -> None:
    markdown = f"File {md_code(text)} read"
    shown = rendered(markdown)
    assert not shown.links and not shown.html and not shown.shortcodes, shown
    assert _code_text(markdown) == [re.sub(r"\n+", " ", text)]


# -- the pages, rendered by AppTest on a dataset whose names are hostile -------------------------------

CATEGORIES = [LINK, IMAGE, ":red[alarm] :material/warning:", "plain"]
USER = "[u1](https://evil.example/user)"
SOURCE = "<img src=x>![s](https://evil.example/source.png).csv"
# Fields of an element's protobuf that Streamlit renders as markdown (radio options too).
MARKDOWN_FIELDS = {"body", "help", "label", "caption", "text", "placeholder", "captions"}


def _hostile_events() -> pd.DataFrame:
    rows = []
    for day in range(28):
        for u, user in enumerate([USER, "u2", "u3"]):
            for c, category in enumerate(CATEGORIES):
                for _ in range(1 + (c == 0) * 3 + (day + u + c) % 2):
                    rows.append({"user_id": user, "item_id": f"i{c}", "category": category,
                                 "behavior": "buy" if (day + c) % 5 == 0 else "view",
                                 "ts": pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(days=day, hours=u + c)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with temp_store(tmp_path_factory, "mdesc") as db:
        events = db.parent / "events.parquet"
        _hostile_events().to_parquet(events, index=False)
        mapping = ColumnMapping(user_id="user_id", item_id="item_id", category="category", behavior="behavior",
                                ts="ts")
        with Store(db) as store:
            pipeline.ingest(store, events, name="hostile", fmt="generic", mapping=mapping, source_name=SOURCE)
        yield db


def _markdown_strings(message: Any, radio: bool = False) -> Iterator[str]:
    for desc, value in message.ListFields():
        if desc.message_type is not None:
            for item in [value] if isinstance(value, Message) else value:
                yield from _markdown_strings(item, radio or desc.name == "radio")
        elif desc.type == desc.TYPE_STRING and (desc.name in MARKDOWN_FIELDS or (radio and desc.name == "options")):
            yield from [value] if isinstance(value, str) else value


PRELOADS = {preload_markup(elements) for spec in PAGES for elements in (spec.preload, spec.preload_after)}
SAFE_TAGS = {"figure", "figcaption", "div", "span", "p"}  # what the app's own HTML (charts.bar_list) is made of


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def live_html(body: str) -> list[str]:
    """What in an st.html body could load, link or run something: tags beyond SAFE_TAGS, links, sources, handlers."""
    parser = _Tags()
    parser.feed(body)
    loading = {a for a in parser.attributes if a in ("href", "src") or a.startswith("on")}
    return sorted((parser.tags - SAFE_TAGS) | loading)


def page_markdown(at: Any) -> list[str]:
    """Every markdown string of the page's elements (main area and sidebar); st.html bodies are in ``page_html``."""
    found: list[str] = []

    def visit(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if getattr(node, "type", None) == "html":
            return  # HTML, not markdown: page_html
        if proto is not None and hasattr(proto, "ListFields"):
            found.extend(_markdown_strings(proto))
        for child in getattr(node, "children", {}).values():
            visit(child)

    visit(at._tree)
    return found


def page_html(at: Any) -> list[str]:
    """The bodies of the page's st.html elements, but for the app's own constant preload scripts (ui.startup)."""
    return [e.proto.body for e in at.get("html") if e.proto.body not in PRELOADS]


# The page files' folder: pages/, or app_pages/ once the page shell moved into app.py.
PAGE_DIR = next(d for d in ("app_pages", "pages") if (ROOT / d / "user.py").exists())


@pytest.mark.parametrize(("page", "literal"), [
    ("user.py", "Claim your refund"),
    ("data.py", "evil.example/source.png"),
    ("segments.py", None),
    ("migration.py", None),
    ("overview.py", None),
])
def test_pages_show_hostile_names_literally(hostile_store: Path, page: str, literal: str | None) -> None:
    at = run_app(180, dataset="hostile", user=USER, freq="D")
    at.switch_page(f"{PAGE_DIR}/{page}").run()
    check_clean(at, errors=False)
    texts = page_markdown(at)
    assert texts
    live = [(t, r) for t in texts if (r := rendered(t)).links or r.html or r.shortcodes]
    assert not live, live
    assert not [(body, found) for body in page_html(at) if (found := live_html(body))]
    if literal:
        assert any(literal in rendered(t).text for t in texts), texts


def test_the_html_check_finds_live_html() -> None:
    """The checker itself: a link, an image or a handler in an st.html body is found (else the check above
    could not fail)."""
    assert live_html('<div><a href="https://evil.example">x</a></div>') == ["a", "href"]
    assert live_html('<span onmouseover="alert(1)">x</span><img src=x>') == ["img", "onmouseover", "src"]
    assert live_html('<figure data-chart="bar-list"><div class="ic-bar" title="&lt;a&gt;"></div></figure>') == []
