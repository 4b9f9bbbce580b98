"""Load source files into `Document`s whose text is light Markdown, whatever the format.

Every loader keeps the structure the chunker needs: headings as `#` lines, list items as `- ` lines and tables as
`| a | b |` rows. Markdown passes through (minus front matter), HTML (`html_text`: the page's content, not its
navigation or hidden parts) and Word (.docx) are converted, plain text and PDF become paragraphs. A file that
cannot be read, or whose front matter `url:` fails the URL policy (`ragbot.urls`), raises `DocumentError`; the
caller reports it and carries on.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import ACL_SIDECAR, AclResolver, AclRules
from ragbot.ingestion.html_text import html_to_markdown
from ragbot.models import Document
from ragbot.urls import shown, url_problem

__all__ = ["SUPPORTED_SUFFIXES", "SourceFile", "discover", "first_h1", "load_document", "normalize_text"]

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf", ".docx"})
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FRONT_MATTER_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_DOCX_HEADING = re.compile(r"^heading ([1-9])$")
_DOCX_LIST_LEVEL = re.compile(r" ([2-9])$")
_OFFICE_LOCK_PREFIX = "~$"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to ingest and the id it gets: its POSIX path relative to the ingested root.

    `modified` is when the file last changed as known to its source (a Git commit time, say). It stands in for the
    file's mtime when the file carries no date of its own (front matter `updated:`, a Word document's properties).

    `refused` says in one line why a file that is there is not read (a link out of the ingested folder, a name that
    is not UTF-8, sidecars that leave nobody who may read it): its source reports it instead of loading it.
    `present` is False for one that must not count as still there when pruning: a link out of the folder, so that
    `--prune` removes what was ingested through it before links were refused.
    """

    path: Path
    doc_id: str
    acl: tuple[str, ...]
    modified: datetime | None = None
    refused: str = ""
    present: bool = True


def discover(root: Path, *, acl: AclResolver | AclRules, follow_symlinks: bool = False) -> Iterator[SourceFile]:
    """Yield the supported files under `root` (or `root` itself), sorted, skipping hidden files and folders.

    Office lock files (`~$report.docx`, left next to a document while it is open) are skipped too. Nothing outside
    `root` (for a single file: its folder) is read unless `follow_symlinks`: a link that leads out is yielded
    refused, and a folder that is a link is not entered (with `follow_symlinks` it is, each real folder once). A
    file whose name is not valid UTF-8 or holds a control character is yielded refused, its id spelled with `\\xNN`
    escapes; a folder that cannot be listed is yielded refused with an id ending in "/".

    Args:
        root: A folder, or one file.
        acl: Who may read each file: an `AclResolver` (every sidecar above the file), or one folder's `AclRules`.
        follow_symlinks: Read what links lead to, wherever it is.

    Raises:
        InputError: `root` does not exist or cannot be listed.
    """
    if root.is_file():
        yield _found(root, root.name, within=root.parent.resolve(), acl=acl, follow=follow_symlinks)
        return
    if not root.is_dir():
        raise InputError(f"no such file or folder: {root}")
    real_root = root.resolve()
    found: list[SourceFile] = []
    for path, problem, present in _walk(root, real_root=real_root, follow=follow_symlinks):
        relative = path.relative_to(root).as_posix()
        if problem:
            doc_id = _shown_name(relative) + "/"
            found.append(SourceFile(path=path, doc_id=doc_id, acl=(), refused=problem, present=present))
        elif path.suffix.lower() in SUPPORTED_SUFFIXES and path.name != ACL_SIDECAR:
            if not path.name.startswith(_OFFICE_LOCK_PREFIX):
                found.append(_found(path, relative, within=real_root, acl=acl, follow=follow_symlinks))
    yield from sorted(found, key=lambda file: file.doc_id.split("/"))


def _walk(root: Path, *, real_root: Path, follow: bool) -> Iterator[tuple[Path, str, bool]]:
    """Every file below `root` that is not hidden, or a folder on the way that is not read: why, and whether what was
    ingested from it still counts as there (a folder that cannot be listed: yes; a link out of the folder: no)."""
    visited = {real_root}
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as err:
            if folder == root:
                raise InputError(f"cannot list {root}: {err.strerror}") from err
            yield folder, f"cannot list this folder ({err.strerror}): what was ingested from it is kept", True
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if _is_dir(entry, follow=follow):
                real = path.resolve()
                if real not in visited:  # a folder reached twice through links (or a loop) is read once
                    visited.add(real)
                    pending.append(path)
            elif entry.is_symlink() and path.is_dir():
                # Not followed. One inside the folder adds nothing: its files are read where they really are.
                if not _inside(path.resolve(), real_root):
                    yield path, "a link to a folder outside the ingested folder: not entered (--follow-symlinks)", False
            elif path.is_file():
                yield path, "", True


def _is_dir(entry: os.DirEntry[str], *, follow: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow)
    except OSError:
        return False


def _found(path: Path, relative: str, *, within: Path, acl: AclResolver | AclRules, follow: bool) -> SourceFile:
    """A discovered file with its readers, or with why it is refused."""
    if not _storable(relative):
        return SourceFile(path, _shown_name(relative), (), refused=_BAD_NAME)
    if not follow and path.is_symlink():
        target = path.resolve()
        if not _inside(target, within):
            return SourceFile(path, relative, (), refused=_LINK_OUT, present=False)
        if any(part.startswith(".") for part in target.relative_to(within).parts):
            # Hidden files are never ingested (.git/config holds remote URLs, tokens included); not through a link.
            return SourceFile(path, relative, (), refused=_LINK_HIDDEN, present=False)
    try:
        readers = (
            acl.principals_for(relative, path=path) if isinstance(acl, AclResolver) else acl.principals_for(relative)
        )
    except DocumentError as err:
        return SourceFile(path, relative, (), refused=str(err))
    return SourceFile(path=path, doc_id=relative, acl=readers)


_BAD_NAME = "the file name is not valid UTF-8 or holds a control character: rename the file to ingest it"
_LINK_OUT = "a link to a file outside the ingested folder: not read (--follow-symlinks to read it)"
_LINK_HIDDEN = "a link to a hidden file (or one in a hidden folder): not read (--follow-symlinks to read it)"


def _storable(name: str) -> bool:
    """Whether a path can be a doc_id: valid UTF-8 (no undecodable bytes) and no control characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(unicodedata.category(char) == "Cc" for char in name)


def _shown_name(name: str) -> str:
    """A path as printable text: undecodable bytes and control characters spelled as escapes."""
    raw = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(char if unicodedata.category(char) != "Cc" else ascii(char)[1:-1] for char in raw)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def load_document(file: SourceFile, *, source: str) -> Document:
    """Read one file into a `Document`.

    Raises:
        DocumentError: The file is unreadable, binary, empty, or a broken PDF or Word document.
    """
    try:
        raw = file.path.read_bytes()
    except OSError as err:
        raise DocumentError(f"cannot read: {err.strerror}", path=file.doc_id) from err
    suffix = file.path.suffix.lower()
    meta: dict[str, str] = {}
    modified: datetime | None = None
    if suffix == ".pdf":
        text, title = _pdf_text(raw, path=file.doc_id)
    elif suffix == ".docx":
        text, title, modified = _docx_text(raw, path=file.doc_id)
    else:
        decoded = _decode(raw, path=file.doc_id)
        if suffix in {".html", ".htm"}:
            try:
                text, title = html_to_markdown(decoded)
            except RecursionError as err:
                raise DocumentError("the HTML nests too deeply to read", path=file.doc_id) from err
        elif suffix in {".md", ".markdown"}:
            meta, text = _split_front_matter(decoded)
            title = meta.pop("title", "") or first_h1(text)
        else:
            text, title = _plain_text(decoded)
    text = normalize_text(text)
    if not text.strip():
        raise DocumentError("no text to index (empty, or a scanned PDF without a text layer)", path=file.doc_id)
    updated_at = modified or _updated_at(meta.pop("updated", ""), file=file)
    url = meta.pop("url", "")
    problem = url_problem(url) if url else None
    if problem:
        # The one URL policy (ragbot.urls): the link would reach chat markup and the command line's output.
        raise DocumentError(f"front matter url refused: {problem}: {shown(url)}", path=file.doc_id)
    return Document(
        doc_id=file.doc_id,
        title=title.strip() or _title_from_name(file.path),
        url=url,
        source=source,
        text=text,
        updated_at=updated_at,
        acl=file.acl,
        content_hash=hashlib.sha256(raw).hexdigest(),
        metadata=meta,
    )


def _decode(raw: bytes, *, path: str) -> str:
    if b"\x00" in raw[:8192]:
        raise DocumentError("looks like a binary file, not text", path=path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Windows editors still save cp1252; it rejects the bytes that mark other binary data.
        return raw.decode("cp1252")
    except UnicodeDecodeError as err:
        raise DocumentError("text is neither UTF-8 nor Windows-1252", path=path) from err


def normalize_text(text: str) -> str:
    """Tidy text the way every source yields it.

    Args:
        text: Light Markdown or plain text, with any line ends.

    Returns:
        The text with Unix line ends, no-break spaces as spaces, no trailing blanks on a line, at most one empty
        line in a row, and one final newline.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _split_front_matter(text: str) -> tuple[dict[str, str], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    meta = {}
    for line in match.group(1).splitlines():
        kv = _FRONT_MATTER_LINE.match(line)
        if kv:
            meta[kv.group(1).lower()] = kv.group(2).strip().strip("\"'")
    return meta, text[match.end() :]


def first_h1(text: str) -> str:
    """Find the document title a Markdown text gives itself.

    Args:
        text: Light Markdown.

    Returns:
        The text of the first `# ` heading, or "" without one.
    """
    match = _H1.search(text)
    return match.group(1) if match else ""


def _plain_text(text: str) -> tuple[str, str]:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    # A short first line followed by a blank line reads as a title.
    title = first if len(first) <= 120 and not first.endswith((".", ",", ";", ":")) else ""
    return text, title


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _updated_at(value: str, *, file: SourceFile) -> datetime:
    if value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            try:
                parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
            except ValueError as err:
                raise DocumentError(f"front matter 'updated: {value}' is not an ISO date", path=file.doc_id) from err
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if file.modified is not None:
        return file.modified if file.modified.tzinfo else file.modified.replace(tzinfo=UTC)
    return datetime.fromtimestamp(file.path.stat().st_mtime, tz=UTC).replace(microsecond=0)


def _pdf_text(raw: bytes, *, path: str) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("the PDF is password-protected", path=path)
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata: dict[str, Any] = dict(reader.metadata or {})
        title = str(metadata.get("/Title") or "")
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as err:
        raise DocumentError(f"unreadable PDF: {err}", path=path) from err
    paragraphs = []
    for page in pages:
        # PDF text comes out one visual line at a time; rejoin lines into paragraphs at blank lines.
        for para in re.split(r"\n\s*\n", page):
            joined = " ".join(para.split())
            if joined:
                paragraphs.append(joined)
    if not title and paragraphs and len(paragraphs[0]) <= 120:
        title = paragraphs[0]
    return "\n\n".join(paragraphs), title


def _docx_text(raw: bytes, *, path: str) -> tuple[str, str, datetime | None]:
    """Convert a Word document to light Markdown; return (text, title, last modified per its properties)."""
    import zipfile

    import docx
    from docx.opc.exceptions import OpcError
    from docx.table import Table
    from lxml.etree import LxmlError  # type: ignore[import-untyped]

    def inline(text: str) -> str:
        return " ".join(text.split())

    lines: list[str] = []
    first_heading = ""
    try:
        document = docx.Document(io.BytesIO(raw))
        properties = document.core_properties
        title = inline(properties.title or "")
        modified = properties.modified
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.append("")
                for i, row in enumerate(block.rows):
                    cells = [inline(cell.text).replace("|", "/") for cell in row.cells]
                    if cells:
                        lines.append("| " + " | ".join(cells) + " |")
                        if i == 0:
                            lines.append("|" + " --- |" * len(cells))
                lines.append("")
                continue
            style = ((block.style.name if block.style else None) or "").strip().lower()
            heading = _DOCX_HEADING.match(style)
            if heading or style == "title":
                text = inline(block.text)
                if text:
                    level = min(int(heading.group(1)), 6) if heading else 1
                    lines += ["", "#" * level + " " + text, ""]
                    if level == 1 and not first_heading:
                        first_heading = text
            elif style.startswith("list"):
                text = inline(block.text)
                nested = _DOCX_LIST_LEVEL.search(style)
                indent = "  " * (int(nested.group(1)) - 1 if nested else 0)
                if text:
                    # "List Continue" paragraphs carry on the item above rather than start a new one.
                    lines.append(indent + ("  " if style.startswith("list continue") else "- ") + text)
            else:
                # Soft line breaks inside a paragraph survive as lines; paragraphs are separated by blank lines.
                text = "\n".join(inline(line) for line in block.text.splitlines() if line.strip())
                if text:
                    lines += ["", text, ""]
    except (OpcError, LxmlError, zipfile.BadZipFile, KeyError, ValueError, IndexError, AttributeError, OSError) as err:
        raise DocumentError(f"unreadable Word document: {err}", path=path) from err
    return "\n".join(lines), title or first_heading, modified
