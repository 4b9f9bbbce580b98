"""A `ragbot worker` whose retrieval uses the hashing embedder instead of the model (and may be slowed down).

Run as `python -m tests.e2e.worker_process --queues … [--embed-delay S]` with the usual RAGBOT_* environment.
This is the worker entry point with one collaborator passed in, the way the worker's `Context` is designed to be used;
the queue, the tasks, the index, Redis and the platform clients are the real ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from ragbot.bootstrap import Context, platform_senders
from ragbot.observability.logs import configure_logging
from ragbot.ports import Vectors
from ragbot.settings import Settings
from ragbot_worker.__main__ import main
from tests.fakes.hash_embedder import HashEmbedder


class SlowEmbedder(HashEmbedder):
    """Embeds like `HashEmbedder`, after a pause: a question stays in flight long enough to kill its worker."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self._delay = delay_s

    def embed_query(self, text: str) -> Vectors:
        if text != "warm up":
            time.sleep(self._delay)
        return super().embed_query(text)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return super().embed_documents(texts)


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--embed-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    configure_logging()
    settings = Settings()
    embedder = SlowEmbedder(args.embed_delay)
    return main(
        settings,
        queues=args.queues.split(","),
        pool="prefork",
        concurrency=args.concurrency,
        context=lambda: Context(settings, embedder=embedder, platforms=platform_senders()),
    )


if __name__ == "__main__":
    sys.exit(run())
