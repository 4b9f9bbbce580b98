"""A folder (or one file) as a source: each supported file is a document whose id is its path under the folder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import AclRules, load_acl_rules
from ragbot.ingestion.load import SourceFile, discover, load_document
from ragbot.ingestion.sources.base import LoadFailure, check_source_name, check_url_base, join_url, url_refusal
from ragbot.models import Document

__all__ = ["FolderSource"]


class FolderSource:
    """The supported files under a folder (or one file); a document's id is its POSIX path under the folder.

    Access comes from the folder's `.ragbot-acl.toml` sidecar, then `acl`, then everyone. A file that fails to load
    is yielded as a `LoadFailure`, and so is one whose URL (front matter `url:`, or joined under `url_base`) fails
    the URL policy (`ragbot.urls`).
    """

    def __init__(
        self,
        root: Path,
        *,
        name: str | None = None,
        acl: tuple[str, ...] | None = None,
        url_base: str | None = None,
    ) -> None:
        """Check the folder and read its ACL sidecar.

        Args:
            root: A folder, or a single file (its id is its name; the sidecar is read from its folder).
            name: Source name; default the folder's name.
            acl: Principals for files no sidecar rule matches; default the sidecar's default, else everyone.
            url_base: Files without a front matter `url:` get `url_base` joined with their id.

        Raises:
            InputError: `root` does not exist, its sidecar is invalid, or `name` / `url_base` is malformed.
        """
        root = root.expanduser()
        if not root.exists():
            raise InputError(f"no such file or folder: {root}")
        self.root = root
        self.folder = root if root.is_dir() else root.parent
        self._name = check_source_name(name, default=self.folder.resolve().name or "files")
        self.url_base = check_url_base(url_base)
        self.rules: AclRules = load_acl_rules(self.folder, default=acl)

    @property
    def name(self) -> str:
        """Recorded on every `Document.source`; pruning is scoped to it."""
        return self._name

    def items(self) -> Iterator[Document | LoadFailure]:
        """Yield each supported file as a `Document`, or a `LoadFailure` when it cannot be loaded."""
        return self._load(discover(self.root, acl=self.rules), url_base=self.url_base)

    def _load(self, files: Iterable[SourceFile], *, url_base: str | None) -> Iterator[Document | LoadFailure]:
        for file in files:
            try:
                document = load_document(file, source=self._name)
            except DocumentError as err:
                yield LoadFailure(doc_id=err.path, reason=str(err))
                continue
            if url_base and not document.url:
                document = document.model_copy(update={"url": join_url(url_base, document.doc_id)})
            refused = url_refusal(document.url)
            if refused:  # a link joined under the base can still be too long
                yield LoadFailure(doc_id=document.doc_id, reason=refused)
                continue
            yield document

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, name={self._name!r})"
