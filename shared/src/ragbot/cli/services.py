"""`ragbot serve slack|teams` and `ragbot worker`: run a chat adapter or the Celery workers for the answering hops.

Services register as entry points (`ragbot.services`), so this package never imports them: they depend on it,
not back.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from ragbot.cli.arguments import Commands, load_settings, port, positive_int
from ragbot.errors import ConfigurationError

__all__ = ["register", "serve", "worker"]


def register(commands: Commands) -> None:
    """Add `serve` and `worker` to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    serve_parser = commands.add_parser("serve", help="run a chat adapter (Slack or Teams)")
    serve_parser.add_argument("platform", choices=["slack", "teams"])
    serve_parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")  # noqa: S104
    serve_parser.add_argument("--port", type=port, help="default: 3000 for Slack, 3978 for Teams; 0 picks a free one")
    serve_parser.set_defaults(handler=serve)

    worker_parser = commands.add_parser("worker", help="run Celery workers for the answering hops")
    worker_parser.add_argument(
        "--queues",
        help="comma-separated queues to consume: retrieve,generate,reply.slack,reply.teams,feedback (default: all)",
    )
    worker_parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    worker_parser.add_argument("--concurrency", type=positive_int, help="processes or threads (default: one per CPU)")
    worker_parser.set_defaults(handler=worker)


def _service(name: str) -> Callable[..., int]:
    """The installed service's entry point, or a `ConfigurationError` that says which extra installs it."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="ragbot.services") if ep.name == name]
    if not found:
        raise ConfigurationError(f"the {name} service is not installed (pip install 'ragbot[{name}]')")
    try:
        entry: Callable[..., int] = found[0].load()
    except ImportError as err:
        raise ConfigurationError(f"the {name} service cannot start: {err} (pip install 'ragbot[{name}]')") from err
    return entry


def serve(args: argparse.Namespace) -> int:
    """Run the Slack or Teams adapter until it is stopped.

    Args:
        args: the parsed `serve` arguments.

    Returns:
        The adapter's exit code.

    Raises:
        ConfigurationError: the adapter is not installed, or cannot be imported.
    """
    from ragbot.observability.logs import configure_logging

    entry = _service(args.platform)
    configure_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    listen_port = args.port if args.port is not None else 3000 if args.platform == "slack" else 3978
    return entry(load_settings(), host=args.host, port=listen_port)


def worker(args: argparse.Namespace) -> int:
    """Run Celery workers for the given queues (default: all) until they are stopped.

    Args:
        args: the parsed `worker` arguments.

    Returns:
        The worker's exit code.

    Raises:
        ConfigurationError: the worker is not installed, or cannot be imported.
    """
    from ragbot.observability.logs import configure_logging

    entry = _service("worker")
    configure_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    queues = args.queues.split(",") if args.queues is not None else None
    return entry(load_settings(), queues=queues, pool=args.pool, concurrency=args.concurrency)
