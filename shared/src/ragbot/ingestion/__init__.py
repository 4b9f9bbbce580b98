"""Ingestion: sources → `Document` (load) → `Chunk` (chunk) → embedded and stored (pipeline)."""

from ragbot.ingestion.acl import AclRules, load_acl_rules
from ragbot.ingestion.chunk import CHUNKER_VERSION, Chunker
from ragbot.ingestion.load import SUPPORTED_SUFFIXES, SourceFile, discover, load_document
from ragbot.ingestion.pipeline import (
    ForgetReport,
    IngestReport,
    content_key,
    forget,
    ingest,
    ingest_documents,
    link_duplicates,
)
from ragbot.ingestion.sources import LoadFailure, Source, open_source

__all__ = [
    "CHUNKER_VERSION",
    "SUPPORTED_SUFFIXES",
    "AclRules",
    "Chunker",
    "ForgetReport",
    "IngestReport",
    "LoadFailure",
    "Source",
    "SourceFile",
    "content_key",
    "discover",
    "forget",
    "ingest",
    "ingest_documents",
    "link_duplicates",
    "load_acl_rules",
    "load_document",
    "open_source",
]
