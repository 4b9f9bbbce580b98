import hashlib
import io
import os
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import AclRules, load_acl_rules
from ragbot.ingestion.load import SourceFile, discover, load_document
from tests.fakes.pdf import make_pdf


def load(path: Path, acl: tuple[str, ...] = ("*",)):  # type: ignore[no-untyped-def]
    return load_document(SourceFile(path=path, doc_id=path.name, acl=acl), source="test")


def test_markdown_front_matter_sets_title_date_and_url(tmp_path: Path) -> None:
    path = tmp_path / "vpn.md"
    path.write_text(
        "---\ntitle: VPN guide\nupdated: 2026-03-14\nurl: https://wiki.example/vpn\nowner: it\n---\n"
        "# Ignored heading\n\nConnect to gp.example.\n"
    )
    doc = load(path)
    assert (doc.title, doc.url, doc.updated_at.isoformat()) == (
        "VPN guide",
        "https://wiki.example/vpn",
        "2026-03-14T00:00:00+00:00",
    )
    assert doc.metadata == {"owner": "it"}
    assert doc.text.startswith("# Ignored heading")
    assert "title:" not in doc.text


def test_markdown_title_falls_back_to_the_first_h1_then_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Intro.\n\n# Expense policy\n\nText.\n")
    (tmp_path / "remote-work_policy.md").write_text("Just text.\n")
    assert load(tmp_path / "a.md").title == "Expense policy"
    assert load(tmp_path / "remote-work_policy.md").title == "Remote work policy"


def test_html_keeps_headings_lists_and_tables_as_markdown(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Offices</title><style>p{}</style></head><body><nav>menu</nav>"
        "<h1>Offices</h1><p>We have <b>three</b> offices.</p><h2>Lisbon</h2><ul><li>Desk booking</li>"
        "<li>Parking <ul><li>Level -2</li></ul></li></ul>"
        "<table><tr><th>City</th><th>Desks</th></tr><tr><td>Lisbon</td><td>120</td></tr></table>"
        "<script>alert(1)</script></body></html>"
    )
    doc = load(path)
    assert doc.title == "Offices"
    assert "## Lisbon" in doc.text
    assert "We have three offices." in doc.text
    assert "- Desk booking" in doc.text
    assert "| City | Desks |\n| --- | --- |\n| Lisbon | 120 |" in doc.text
    assert "menu" not in doc.text and "alert" not in doc.text


def test_plain_text_uses_a_short_first_line_as_title(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Printing and Wi-Fi\n\nPrinters are on every floor.\n", encoding="utf-8")
    assert load(path).title == "Printing and Wi-Fi"


def test_windows_1252_text_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes("Caf\u00e9 opens at 8.\n".encode("cp1252"))
    assert "Caf\u00e9" in load(path).text


def test_pdf_text_and_title_are_extracted(tmp_path: Path) -> None:
    path = tmp_path / "policy.pdf"
    path.write_bytes(make_pdf(["Claims must be filed within 30 days.", "Receipts are required."], title="Expenses"))
    doc = load(path)
    assert doc.title == "Expenses"
    assert "Claims must be filed within 30 days." in doc.text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "unreadable PDF"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("empty.md", b"   \n\n", "no text"),
        ("blank.pdf", make_pdf([]), "no text"),
    ],
)
def test_unreadable_files_raise_document_error(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=message) as caught:
        load(path)
    assert caught.value.path == name


def test_bad_front_matter_date_is_a_document_error(tmp_path: Path) -> None:
    path = tmp_path / "x.md"
    path.write_text("---\nupdated: last tuesday\n---\nText.\n")
    with pytest.raises(DocumentError, match="not an ISO date"):
        load(path)


def test_discover_skips_hidden_and_unsupported_files(tmp_path: Path) -> None:
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "leave.md").write_text("x")
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "logo.png").write_bytes(b"x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.md").write_text("x")
    (tmp_path / ".ragbot-acl.toml").write_text('default = ["*"]\n')
    found = [f.doc_id for f in discover(tmp_path, acl=AclRules())]
    assert found == ["a.txt", "hr/leave.md"]
    with pytest.raises(InputError, match="no such file"):
        list(discover(tmp_path / "missing", acl=AclRules()))


def test_acl_sidecar_rules_match_in_order(tmp_path: Path) -> None:
    (tmp_path / ".ragbot-acl.toml").write_text(
        'default = ["*"]\n'
        '[[rule]]\npattern = "hr/compensation/*"\nprincipals = ["group:hr"]\n'
        '[[rule]]\npattern = "hr/*"\nprincipals = ["group:staff"]\n'
    )
    rules = load_acl_rules(tmp_path)
    assert rules.principals_for("hr/compensation/bands.md") == ("group:hr",)
    assert rules.principals_for("hr/leave.md") == ("group:staff",)
    assert rules.principals_for("it/vpn.md") == ("*",)
    assert load_acl_rules(tmp_path, default=("group:eng",)).principals_for("it/vpn.md") == ("group:eng",)


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ("default = [", "cannot read ACL sidecar"),
        ("default = []\n", "non-empty list"),
        ('[[rule]]\nprincipals = ["group:hr"]\n', "needs a non-empty 'pattern'"),
        ('[[rule]]\npattern = "x/*"\nprincipals = "group:hr"\n', "non-empty list"),
        ('owners = ["x"]\n', "unknown keys"),
    ],
)
def test_invalid_acl_sidecars_are_rejected_with_a_reason(tmp_path: Path, sidecar: str, message: str) -> None:
    (tmp_path / ".ragbot-acl.toml").write_text(sidecar)
    with pytest.raises(InputError, match=message):
        load_acl_rules(tmp_path)


def _docx(path: Path, build, *, core_title: str = "", modified: datetime | None = None) -> Path:  # type: ignore[no-untyped-def]
    import docx

    document = docx.Document()
    document.core_properties.title = core_title
    if modified is not None:
        document.core_properties.modified = modified
    build(document)
    document.save(str(path))
    return path


def test_docx_becomes_markdown_in_document_order(tmp_path: Path) -> None:
    def build(d) -> None:  # type: ignore[no-untyped-def]
        d.add_paragraph("Leave policy", style="Title")
        d.add_heading("Annual leave", level=1)
        d.add_paragraph("Staff get 25 days.")
        d.add_paragraph("Ask your manager", style="List Bullet")
        d.add_paragraph("In writing", style="List Bullet 2")
        d.add_paragraph("Book in the HR portal", style="List Number")
        table = d.add_table(rows=2, cols=2)
        for (row, col), text in {(0, 0): "Years", (0, 1): "Days", (1, 0): "5+", (1, 1): "27 | more"}.items():
            table.cell(row, col).text = text
        d.add_heading("Sick leave", level=2)
        d.add_heading("Evidence", level=6)
        d.add_paragraph("Tell HR on day one.")

    path = _docx(tmp_path / "leave.docx", build, core_title="Leave and absence", modified=datetime(2026, 2, 3, 4, 5))
    doc = load(path)
    assert doc.title == "Leave and absence"
    assert doc.updated_at == datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
    assert doc.text == (
        "# Leave policy\n\n# Annual leave\n\nStaff get 25 days.\n\n"
        "- Ask your manager\n  - In writing\n- Book in the HR portal\n\n"
        "| Years | Days |\n| --- | --- |\n| 5+ | 27 / more |\n\n"
        "## Sick leave\n\n###### Evidence\n\nTell HR on day one.\n"
    )
    assert doc.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_docx_title_falls_back_to_the_first_heading_1_or_title_paragraph(tmp_path: Path) -> None:
    def heading_first(d) -> None:  # type: ignore[no-untyped-def]
        d.add_paragraph("Intro text.")
        d.add_heading("Travel", level=2)
        d.add_heading("Expense policy", level=1)

    def title_first(d) -> None:  # type: ignore[no-untyped-def]
        d.add_paragraph("Security handbook", style="Title")
        d.add_heading("Passwords", level=1)

    assert load(_docx(tmp_path / "a.docx", heading_first)).title == "Expense policy"
    assert load(_docx(tmp_path / "b.docx", title_first)).title == "Security handbook"
    assert load(_docx(tmp_path / "remote_work.docx", lambda d: d.add_paragraph("Only text."))).title == "Remote work"


def test_docx_without_a_modified_date_uses_the_file_mtime(tmp_path: Path) -> None:
    path = _docx(tmp_path / "a.docx", lambda d: d.add_paragraph("Text."))
    # python-docx's template carries a modified date; drop it, as some generators do.
    with zipfile.ZipFile(path) as original:
        parts = {name: original.read(name) for name in original.namelist()}
    parts["docProps/core.xml"] = re.sub(
        rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>", b"", parts["docProps/core.xml"]
    )
    with zipfile.ZipFile(path, "w") as rewritten:
        for name, data in parts.items():
            rewritten.writestr(name, data)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    assert load(path).updated_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)


def _damaged_docx() -> bytes:
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as original, zipfile.ZipFile(out, "w") as damaged:
        for name in original.namelist():
            damaged.writestr(name, b"<w:document oops" if name == "word/document.xml" else original.read(name))
    return out.getvalue()


def _zip_without_word_parts() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "not a Word package")
    return out.getvalue()


@pytest.mark.parametrize(
    "content",
    [b"this is not a zip", _zip_without_word_parts(), _damaged_docx()],
    ids=["not-a-zip", "zip-without-word-parts", "damaged-xml"],
)
def test_unreadable_docx_is_a_document_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(content)
    with pytest.raises(DocumentError, match="^unreadable Word document: ") as caught:
        load(path)
    assert caught.value.path == "broken.docx"
    assert "\n" not in str(caught.value)


def test_docx_without_text_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no text"):
        load(_docx(tmp_path / "empty.docx", lambda d: d.add_paragraph("   ")))


def test_discover_finds_docx_but_skips_office_lock_files(tmp_path: Path) -> None:
    _docx(tmp_path / "report.docx", lambda d: d.add_paragraph("x"))
    (tmp_path / "~$report.docx").write_bytes(b"\x05owner")
    assert [f.doc_id for f in discover(tmp_path, acl=AclRules())] == ["report.docx"]
