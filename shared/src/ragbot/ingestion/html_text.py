"""Turn an HTML page into light Markdown: the text a reader sees in the page's content, not its chrome.

The content root is `<main>` (or `role="main"`, or the page's one top-level `<article>`), else the body. Inside it,
every piece of text is kept wherever it sits (`<p>`, `<div>`, `<section>`, `<span>`, a table cell, bare text in
a container): headings become `#` lines (the chunker builds heading paths from them), lists `- ` lines, data
tables `| a | b |` rows and `<pre>` code fences; everything else becomes paragraphs, with `<br>` kept as a line
break. Left out:

- what is never text: scripts, styles, templates, `noscript`, SVG, embedded frames and media, form controls;
- what is hidden: a `hidden` attribute, `aria-hidden="true"`, an inline `display:none` or `visibility:hidden`, a
  closed `<dialog>`;
- navigation and page chrome: `<nav>`, `role` navigation/banner/contentinfo/search/menu/menubar, the page's own
  `<header>` and `<footer>` (not those of an article or section) and an element outside any article or section
  whose class or id starts or ends with "footer", an `<aside>` that is mostly links, an element
  whose class or id names a menu, nav bar, breadcrumb, sidebar or quick launch and that is mostly links, and a
  `<form>` unless it wraps the page (ASP.NET and SharePoint classic pages put everything in one).

When the content root holds no `#` heading and the page's first `<h1>` sits outside it (in a page header, say),
that heading leads the text, so chunks keep the page's title in their heading path.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bs4 import Tag

__all__ = ["html_to_markdown"]

_NEVER_TEXT = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "math", "iframe", "frame", "frameset", "object", "embed",
        "canvas", "audio", "video", "map", "input", "select", "textarea", "button", "option", "optgroup", "datalist",
        "meta", "link", "base",
    }
)  # fmt: skip
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "menu", "menubar"})
_SECTIONING = frozenset({"article", "main", "section", "aside", "nav"})
_HIDDEN_STYLE = re.compile(
    r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\s*(?:!important\s*)?(?:;|$)",
    re.I,
)
_CHROME_NAME = re.compile(r"nav|menu|breadcrumb|sidebar|quick-?launch|skip-?link|toolbar", re.I)
_FOOTER_NAME = re.compile(r"^footer|footer$", re.I)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Elements whose text runs on inside a paragraph; every other element (known or not) starts a block of its own.
_INLINE = frozenset(
    {
        "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font", "i",
        "ins", "kbd", "label", "mark", "nobr", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strike",
        "strong", "sub", "sup", "time", "tt", "u", "var", "wbr", "img",
    }
)  # fmt: skip
_SKIPPED = frozenset({"head", "title"})
_LAYOUT_CELL_CONTENT = ["table", *_HEADINGS]


def html_to_markdown(html: str) -> tuple[str, str]:
    """Convert an HTML page to light Markdown.

    Args:
        html: The page's markup.

    Returns:
        (text, title): the content as light Markdown, and the page's `<title>` (else its first `<h1>`, else "").

    Raises:
        RecursionError: The markup nests too deeply to walk.
    """
    from bs4 import BeautifulSoup, Tag

    soup = BeautifulSoup(html, "html.parser")
    _prune(soup, chrome=False, sectioned=False)
    title_tag = soup.head.find("title") if soup.head else soup.find("title")
    title = _flat(title_tag)[0] if isinstance(title_tag, Tag) else ""
    root = _content_root(soup)
    lead = _page_heading(soup)
    _prune(root, chrome=True, sectioned=root.name in _SECTIONING or _is_main(root))
    writer = _Writer()
    if lead and root.find("h1") is None:
        writer.lines += [f"# {lead}", ""]
    writer.block(root)
    writer.flush()
    return "\n".join(writer.lines), title or lead


def _is_main(tag: Tag) -> bool:
    return tag.name == "main" or str(tag.get("role") or "").strip().lower() == "main"


def _content_root(soup: Tag) -> Tag:
    from bs4 import Tag

    for candidate in soup.find_all(True):
        if _is_main(candidate):
            return candidate
    articles = [a for a in soup.find_all("article") if a.find_parent("article") is None]
    if len(articles) == 1:
        return articles[0]
    return soup.body if isinstance(soup.body, Tag) else soup


def _page_heading(soup: Tag) -> str:
    """The text of the page's first `<h1>` outside navigation, sidebars and footers."""
    for h1 in soup.find_all("h1"):
        if h1.find_parent(["nav", "aside", "footer"]) is None:
            text = _flat(h1)[0]
            if text:
                return text
    return ""


def _prune(node: Tag, *, chrome: bool, sectioned: bool) -> None:
    """Remove what is never text and what is hidden; with `chrome`, navigation and page chrome too."""
    from bs4.element import PreformattedString, Tag

    for child in list(node.children):
        if isinstance(child, PreformattedString):  # comments, CDATA, doctype, processing instructions
            child.extract()
        elif isinstance(child, Tag):
            if _dropped(child) or (chrome and _is_chrome(child, sectioned=sectioned)):
                child.decompose()
            else:
                _prune(child, chrome=chrome, sectioned=sectioned or child.name in _SECTIONING or _is_main(child))


def _dropped(tag: Tag) -> bool:
    if tag.name in _NEVER_TEXT or tag.has_attr("hidden"):
        return True
    if str(tag.get("aria-hidden") or "").strip().lower() == "true":
        return True
    if tag.name == "dialog" and not tag.has_attr("open"):
        return True
    return bool(_HIDDEN_STYLE.search(str(tag.get("style") or "")))


def _is_chrome(tag: Tag, *, sectioned: bool) -> bool:
    name = tag.name
    if name == "nav" or str(tag.get("role") or "").strip().lower() in _CHROME_ROLES:
        return True
    if name in {"header", "footer"}:
        return not sectioned  # the page's own; an article's or a section's header is content
    names = [*tag.get_attribute_list("class"), *tag.get_attribute_list("id")]
    if not sectioned and any(_FOOTER_NAME.search(str(n)) for n in names):
        return True
    if name == "form":
        return tag.find(["main", "article", "h1", "h2"]) is None and not any(map(_is_main, tag.find_all(True)))
    if name == "aside":
        return _mostly_links(tag)
    if _is_main(tag) or name in {"body", "article"}:
        return False
    return any(_CHROME_NAME.search(str(n)) for n in names) and _mostly_links(tag)


def _mostly_links(tag: Tag) -> bool:
    text = len(_flat(tag)[0])
    linked = sum(len(_flat(a)[0]) for a in tag.find_all("a"))
    return text == 0 or 2 * linked >= text


def _flat(node: Tag, *, skip: frozenset[str] = frozenset()) -> tuple[str, list[Tag]]:
    """A node's text on one line, block boundaries as spaces; and the descendants named in `skip`, left out."""
    from bs4.element import NavigableString, PreformattedString, Tag

    parts: list[str] = []
    skipped: list[Tag] = []

    def visit(parent: Tag) -> None:
        for child in parent.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, PreformattedString):
                    parts.append(str(child))
            elif isinstance(child, Tag):
                if child.name in skip:
                    skipped.append(child)
                elif child.name in _INLINE:
                    visit(child)
                else:
                    parts.append(" ")
                    visit(child)
                    parts.append(" ")

    visit(node)
    return " ".join("".join(parts).split()), skipped


class _Writer:
    """Accumulates Markdown lines; running text collects in `buffer` until a block boundary flushes it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.buffer: list[str] = []

    def flush(self) -> None:
        text = "".join(self.buffer)
        self.buffer.clear()
        paragraph = "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())
        if paragraph:
            self.lines += ["", paragraph, ""]

    def block(self, node: Tag) -> None:
        from bs4.element import NavigableString, PreformattedString, Tag

        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, PreformattedString):
                    self.buffer.append(re.sub(r"\s+", " ", str(child)))
                continue
            if not isinstance(child, Tag) or child.name in _SKIPPED:
                continue
            name = child.name
            if name == "br":
                self.buffer.append("\n")
            elif name in _INLINE or ":" in name:  # `<o:p>` and friends from Word's HTML run on inline
                self.block(child)
            elif name in _HEADINGS:
                self.flush()
                text = _flat(child)[0]
                if text:
                    self.lines += ["", "#" * _HEADINGS[name] + " " + text, ""]
            elif name in {"ul", "ol"}:
                self.flush()
                self.lines.append("")
                self.items(child, depth=0)
                self.lines.append("")
            elif name == "table":
                self.flush()
                self.table(child)
            elif name == "pre":
                self.flush()
                code = child.get_text().strip("\n")
                if code.strip():
                    self.lines += ["", "```", code, "```", ""]
            else:
                self.flush()
                self.block(child)
                self.flush()

    def items(self, node: Tag, *, depth: int) -> None:
        from bs4.element import NavigableString, Tag

        for child in node.children:
            if isinstance(child, Tag) and child.name in {"ul", "ol"}:  # a list straight inside a list
                self.items(child, depth=depth + 1)
                continue
            if isinstance(child, Tag):
                text, nested = _flat(child, skip=frozenset({"ul", "ol"}))
            elif isinstance(child, NavigableString):
                text, nested = " ".join(child.split()), []
            else:
                continue
            if text:
                self.lines.append("  " * depth + "- " + text)
            for inner in nested:
                self.items(inner, depth=depth + 1 if text else depth)

    def table(self, node: Tag) -> None:
        rows = [row for row in node.find_all("tr") if row.find_parent("table") is node]
        cells = [[c for c in row.find_all(["th", "td"]) if c.find_parent("tr") is row] for row in rows]
        layout = all(len(row) <= 1 for row in cells) or any(
            cell.find(_LAYOUT_CELL_CONTENT) is not None for row in cells for cell in row
        )
        if layout:  # a table that lays out a page: its cells are containers
            self.block(node)
            self.flush()
            return
        caption = node.find("caption")
        if caption is not None and caption.find_parent("table") is node:
            text = _flat(caption)[0]
            if text:
                self.lines += ["", text]
        self.lines.append("")
        first = True
        for row in cells:
            texts = [_flat(cell)[0].replace("|", "/") for cell in row]
            if not any(texts):
                continue
            self.lines.append("| " + " | ".join(texts) + " |")
            if first and any(cell.name == "th" for cell in row):
                self.lines.append("|" + " --- |" * len(texts))
            first = False
        self.lines.append("")
