"""A folder (or one file) as a source: each supported file is a document whose id is its path under the folder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import AclResolver
from ragbot.ingestion.load import SourceFile, discover, load_document
from ragbot.ingestion.sources.base import (
    LoadFailure,
    PathNamedSource,
    check_url_base,
    join_url,
    url_refusal,
)
from ragbot.models import Document

__all__ = ["FolderSource"]


class FolderSource(PathNamedSource):
    """The supported files under a folder (or one file); a document's id is its POSIX path under the folder.

    Access comes from every `.ragbot-acl.toml` sidecar above a file, up to the filesystem root (`AclResolver`), so
    a sub-folder or a single file gets the readers it has when its parent folder is ingested; then `acl`, then
    everyone. Nothing outside the folder is read unless `follow_symlinks` (`discover`). A file that fails to load
    is yielded as a `LoadFailure`, and so is one whose URL (front matter `url:`, or joined under `url_base`) fails
    the URL policy (`ragbot.urls`), and one `discover` refuses.
    """

    def __init__(
        self,
        root: Path,
        *,
        name: str | None = None,
        acl: tuple[str, ...] | None = None,
        url_base: str | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        """Check the folder and read the ACL sidecars at and above it.

        Args:
            root: A folder, or a single file (its id is its name; it is governed as it is in its folder).
            name: Source name; default the folder's name and a hash of its path (`default_source_name`).
            acl: Principals for files no sidecar rule matches; they replace the defaults sidecars declare.
            url_base: Files without a front matter `url:` get `url_base` joined with their id.
            follow_symlinks: Read what links lead to even outside the folder.

        Raises:
            InputError: `root` does not exist, a sidecar at or above it is invalid, or `name` / `url_base` is
                malformed.
        """
        root = root.expanduser()
        if not root.exists():
            raise InputError(f"no such file or folder: {root}")
        self.root = root
        self.folder = root if root.is_dir() else root.parent
        super().__init__(name, path=self.folder, base=self.folder.resolve().name or "files")
        self.url_base = check_url_base(url_base)
        self.follow_symlinks = follow_symlinks
        self.access = AclResolver(self.folder, acl=acl)

    def doc_ids(self) -> Iterator[str]:
        """The ids `items` would yield, without loading anything."""
        return (file.doc_id for file in self._files())

    def items(self) -> Iterator[Document | LoadFailure]:
        """Yield each supported file as a `Document`, or a `LoadFailure` when it cannot be loaded."""
        return self._load(self._files(), url_base=self.url_base)

    def _files(self) -> Iterator[SourceFile]:
        return discover(self.root, acl=self.access, follow_symlinks=self.follow_symlinks)

    def _load(self, files: Iterable[SourceFile], *, url_base: str | None) -> Iterator[Document | LoadFailure]:
        for file in files:
            if file.refused:
                yield LoadFailure(doc_id=file.doc_id, reason=file.refused, present=file.present)
                continue
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
