"""HTML pages as intranets write them: every content sentence is indexed, navigation, scripts and hidden text are not.

The pages and their sentences are in `html_pages.py`; `bench/html_extraction.py` measures the old extractor on the
same pages (docs/BENCHMARKS.md, "HTML extraction").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ragbot.errors import DocumentError
from ragbot.ingestion.chunk import Chunker
from ragbot.ingestion.load import SourceFile, load_document
from ragbot.models import Document
from tests.resilience.html_pages import PAGES, Page, kept


def load(path: Path) -> Document:
    return load_document(SourceFile(path=path, doc_id=path.name, acl=("*",)), source="test")


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_content_sentence_of_the_page_is_kept(page: Page) -> None:
    doc = load(page.path)
    assert kept(page, doc.text) == list(page.keep)
    assert doc.title == page.title


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_no_navigation_script_or_hidden_text_leaks_in(page: Page) -> None:
    text = load(page.path).text.lower()
    assert [fragment for fragment in page.drop if fragment.lower() in text] == []


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_headings_stay_markdown_headings(page: Page) -> None:
    lines = load(page.path).text.splitlines()
    assert [heading for heading in page.headings if heading not in lines] == []


def test_chunks_carry_the_heading_path_of_div_text() -> None:
    page = next(page for page in PAGES if page.name == "sharepoint-news.html")
    chunks = Chunker(target_tokens=60, overlap_tokens=0).chunk(load(page.path))
    owner = next(chunk for chunk in chunks if "Activate your portal account" in chunk.text)
    assert owner.heading_path.endswith("What you need to do")


def write(tmp_path: Path, html: str) -> Document:
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    return load(path)


def test_text_next_to_a_paragraph_in_any_container_is_kept(tmp_path: Path) -> None:
    doc = write(
        tmp_path,
        "<body><div>Alpha in a div.<p>Beta in a p.</p>Gamma after the p.</div><section>Delta in a section."
        "<span> Epsilon in a span.</span></section><table><tr><td>Zeta in a lone cell.</td></tr></table></body>",
    )
    assert doc.text == (
        "Alpha in a div.\n\nBeta in a p.\n\nGamma after the p.\n\nDelta in a section. Epsilon in a span.\n\n"
        "Zeta in a lone cell.\n"
    )


@pytest.mark.parametrize(
    "hidden",
    [
        "<div hidden>SECRET</div>",
        '<div aria-hidden="true">SECRET</div>',
        '<span style="color: red; display : none">SECRET</span>',
        '<p style="visibility:hidden !important">SECRET</p>',
        "<dialog>SECRET</dialog>",
        "<nav>SECRET</nav>",
        '<div role="navigation">SECRET</div>',
        "<header>SECRET</header>",
        "<footer>SECRET</footer>",
        '<div class="site-footer">SECRET</div>',
        '<ul class="breadcrumb"><li><a href="/">SECRET</a></li></ul>',
        '<aside><a href="/a">SECRET</a> <a href="/b">links</a></aside>',
        '<form><label>SECRET</label><input value="SECRET"></form>',
        "<template><p>SECRET</p></template>",
        "<noscript>SECRET</noscript>",
        "<script>SECRET()</script><style>.SECRET{}</style>",
        "<!-- SECRET -->",
    ],
)
def test_hidden_and_chrome_elements_are_left_out(tmp_path: Path, hidden: str) -> None:
    doc = write(tmp_path, f"<html><body>{hidden}<p>Visible text.</p></body></html>")
    assert doc.text == "Visible text.\n"


def test_an_articles_own_header_and_footer_and_a_plain_aside_are_content(tmp_path: Path) -> None:
    doc = write(
        tmp_path,
        "<body><header>Site banner</header><article><header><h1>Leave</h1><p>By HR.</p></header>"
        "<p>Staff get 25 days.</p><aside>Part-timers get a pro-rata share.</aside><footer>Reviewed in March.</footer>"
        "</article><footer>Site footer</footer></body>",
    )
    assert doc.text == (
        "# Leave\n\nBy HR.\n\nStaff get 25 days.\n\nPart-timers get a pro-rata share.\n\nReviewed in March.\n"
    )


def test_main_content_is_preferred_and_the_page_heading_outside_it_leads(tmp_path: Path) -> None:
    doc = write(
        tmp_path,
        "<body><div class='top'><h1>Parking</h1></div><div>Promo: new canteen menu.</div>"
        "<div role='main'><div>Level -2 is for visitors.</div></div></body>",
    )
    assert (doc.title, doc.text) == ("Parking", "# Parking\n\nLevel -2 is for visitors.\n")


def test_a_form_that_wraps_the_page_is_read_but_its_controls_are_not(tmp_path: Path) -> None:
    doc = write(
        tmp_path,
        '<body><form id="aspnetForm"><input type="hidden" value="VIEWSTATE"><h1>Canteen</h1>'
        "<div>Lunch is served from noon.</div><button>Order</button></form></body>",
    )
    assert doc.text == "# Canteen\n\nLunch is served from noon.\n"


def test_nested_lists_keep_their_depth(tmp_path: Path) -> None:
    doc = write(tmp_path, "<ul><li><p>Parking</p><ul><li>Level -2</li></ul></li><li>Desks</li></ul>")
    assert doc.text == "- Parking\n  - Level -2\n- Desks\n"


def test_a_page_nested_too_deeply_is_a_per_file_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="nests too deeply") as caught:
        write(tmp_path, "<div>" * 5000 + "text" + "</div>" * 5000)
    assert caught.value.path == "page.html"
