"""Composition root helpers: settings in, ready collaborators out. Only entry points call these."""

from __future__ import annotations

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.extractive import ExtractiveGenerator
from ragbot.backends.st_embedder import SentenceTransformerEmbedder
from ragbot.flow.retrieve import Retriever
from ragbot.ingestion.chunk import Chunker
from ragbot.ports import DocumentIndex, Embedder, Generator
from ragbot.settings import Settings

__all__ = ["build_chunker", "build_embedder", "build_generator", "build_index", "build_retriever"]


def build_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    e = settings.embedding
    return SentenceTransformerEmbedder(e.model, device=e.device, batch_size=e.batch_size, threads=e.threads)


def build_index(settings: Settings) -> DocumentIndex:
    return EmbeddedIndex(settings.data_dir)


def build_chunker(settings: Settings) -> Chunker:
    return Chunker(target_tokens=settings.chunking.target_tokens, overlap_tokens=settings.chunking.overlap_tokens)


def build_generator(settings: Settings, *, embedder: Embedder) -> Generator:
    return ExtractiveGenerator(embedder=embedder, settings=settings.answer)


def build_retriever(settings: Settings, *, embedder: Embedder, index: DocumentIndex) -> Retriever:
    return Retriever(embedder=embedder, index=index, settings=settings.retrieval)
