"""Ingestion: files → `Document` (load) → `Chunk` (chunk) → embedded and stored (pipeline)."""

from ragbot.ingestion.acl import AclRules, load_acl_rules
from ragbot.ingestion.chunk import CHUNKER_VERSION, Chunker
from ragbot.ingestion.load import SUPPORTED_SUFFIXES, SourceFile, discover, load_document
from ragbot.ingestion.pipeline import IngestReport, ingest

__all__ = [
    "CHUNKER_VERSION",
    "SUPPORTED_SUFFIXES",
    "AclRules",
    "Chunker",
    "IngestReport",
    "SourceFile",
    "discover",
    "ingest",
    "load_acl_rules",
    "load_document",
]
