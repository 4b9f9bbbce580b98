"""The markup-injection corpus and the checks that say what a chat platform would act on in a rendered text.

Shared by the render-path tests (test_markup.py) and the end-to-end ones (test_markup_e2e.py). The corpus is data:
Slack's specials and links, Markdown and HTML links, images and tags, entities that decode into them, zero-width
and bidirectional characters, and URLs that try to leave a link or use another scheme.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = [
    "HOSTILE_TEXTS",
    "HOSTILE_URLS",
    "VALID_URLS",
    "slack_live_markup",
    "slack_texts",
    "teams_live_markup",
    "teams_markdown_texts",
]

HOSTILE_TEXTS: tuple[str, ...] = (
    # Slack: specials, mentions, channel links, links, dates.
    "<!channel> the office is closed today",
    "<!here> <!everyone> <!channel|channel> <!subteam^S0123|@payroll>",
    "ask <@U123> or <@U123|the boss> or <@W0ABC>, in <#C1> or <#C1|general>",
    "<https://evil.example/phish|the official form> and <https://evil.example/phish>",
    "<mailto:hr@evil.example|HR> <tel:+15550100|call us>",
    "<!date^1392734382^{date_short}|Feb 18, 2014>",
    # Entity games: text that is, or decodes into, markup.
    "&lt;!channel&gt; &amp;lt;!here&amp;gt; &#60;!everyone&#62; &lt;https://evil.example|x&gt;",
    "&#91;the form&#93;(https://evil.example) &nbsp;&copy; &amp; & &; &#x3C;b&#x3E;",
    # Teams / Markdown / HTML.
    "[the form](https://evil.example/phish) and [1](https://evil.example/one)",
    "[x][ref]\n\n[ref]: https://evil.example/ref\n[1]: https://evil.example/cite",
    '<a href="https://evil.example/phish">the form</a> <img src=x onerror=alert(1)> <script>alert(1)</script>',
    "![tracking](https://evil.example/pixel.png) <https://evil.example/auto> <at>Boss</at>",
    "**bold** _italic_ `code` ~~struck~~ ~sub~ # heading | a | b |\n> quoted\n```\nfence\n```",
    # Invisible characters inside and around markup.
    "<\u200b!channel> <!chan\u200bnel> [x]\u200b(https://evil.example) \u202eelif.exe",
    # Escapes, nesting and broken pieces.
    "\\<!channel> \\[x\\](https://evil.example) <<!channel>> <!channel !channel> <",
    "line one\n<!here>\r\nline three\n\n[next](javascript:alert(1))",
    "javascript:alert(document.cookie) data:text/html,<script>alert(1)</script>",
    "Cited [1] [2](https://evil.example) [3]: https://evil.example [1][2] ![1](https://evil.example)",
)

HOSTILE_URLS: tuple[str, ...] = (
    "https://evil.example/x|<!everyone>",
    "https://evil.example/>x",
    "https://evil.example/<!channel>",
    "https://evil.example/x><https://evil.example|click>",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "mailto:hr@evil.example",
    "https://evil.example/\nx",
    "https://evil.example/ x",
    " https://evil.example/",
    "https://wiki.example@evil.example/",
    "https://evil.example/\u200bx",
    "https://evil.example/\u202ex",
    'https://evil.example/"onmouseover="alert(1)',
    "https://evil.example/`x`",
    "https://evil.example/\\x",
    "//evil.example/x",
    "https:evil.example",
    "https://evil.example/" + "a" * 3000,
)

VALID_URLS: tuple[str, ...] = (
    "https://wiki.example/leave",
    "https://wiki.example/pay_(v2)?a=1&b=2#total",
    "http://intranet.local:8080/hr/Über-uns",
    "https://wiki.example/a)b](https://evil.example",
)

_SLACK_TOKEN = re.compile(r"<([^<>]*)>")
_SLACK_RAW_AMP = re.compile(r"&(?!amp;|lt;|gt;)")
_MARKDOWN = MarkdownIt("commonmark")
_TEAMS_FORBIDDEN = frozenset(
    {"html_inline", "html_block", "image", "em_open", "strong_open", "code_inline", "fence", "s_open"}
)


def slack_live_markup(text: str, *, links: Collection[str] = (), tokens: Collection[str] = ()) -> list[str]:
    """What Slack would act on in mrkdwn `text` that we did not build, as a list of the offending pieces.

    A `<…>` is allowed only as a link `<url|label>` to one of `links` (Slack decodes `&amp;` in it) or as one of
    `tokens` (a mention we put there). Any other `<…>`, any stray `<` or `>`, and any `&` that does not start one
    of Slack's three entities (escaping was skipped, or an entity was cut) is reported.
    """
    found: list[str] = []
    for match in _SLACK_TOKEN.finditer(text):
        token, inner = match.group(0), match.group(1)
        url, bar, label = inner.partition("|")
        if token in tokens or (bar and url.replace("&amp;", "&") in links and "|" not in label):
            continue
        found.append(token)
    rest = _SLACK_TOKEN.sub("", text)
    found += [f"stray {c!r}" for c in rest if c in "<>"]
    found += [f"raw & at {m.start()}" for m in _SLACK_RAW_AMP.finditer(text)]
    return found


def teams_live_markup(markdown: str, *, links: Collection[str] = (), bold: bool = False) -> list[str]:
    """What a CommonMark renderer makes of `markdown` beyond text, paragraphs and our links, as offending pieces.

    Links are allowed only to `links` (compared as the renderer normalises them, with the parentheses
    percent-encoded as our source list writes them); raw HTML, images, emphasis and code spans are reported, and
    bold too unless `bold` (our "**Sources**" heading and link-less titles are bold).
    """
    allowed = {_MARKDOWN.normalizeLink(url.replace("(", "%28").replace(")", "%29")) for url in links}
    found: list[str] = []
    for token in _walk(_MARKDOWN.parse(markdown)):
        if token.type in _TEAMS_FORBIDDEN and not (bold and token.type == "strong_open"):
            found.append(f"{token.type}: {token.content or token.markup!r}")
        elif token.type == "link_open" and str(token.attrGet("href")) not in allowed:
            found.append(f"link to {token.attrGet('href')!r}")
    return found


def slack_texts(message: Mapping[str, Any]) -> Iterator[str]:
    """Every mrkdwn text of a Slack message (its `text` and those of its blocks), as sent or as a call's args."""
    if message.get("text"):
        yield str(message["text"])
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict) and text.get("type") == "mrkdwn":
            yield str(text["text"])
        for element in block.get("elements") or []:
            if element.get("type") == "mrkdwn":
                yield str(element["text"])


def teams_markdown_texts(activity: Mapping[str, Any]) -> Iterator[str]:
    """Every text of a Teams activity that Teams renders as Markdown: the text (unless plain), summary, TextBlocks."""
    if activity.get("text") and activity.get("textFormat") != "plain":
        yield str(activity["text"])
    if activity.get("summary"):
        yield str(activity["summary"])
    for attachment in activity.get("attachments") or []:
        for block in (attachment.get("content") or {}).get("body") or []:
            if block.get("type") == "TextBlock":
                yield str(block["text"])


def _walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)
