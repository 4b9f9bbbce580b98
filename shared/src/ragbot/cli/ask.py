"""`ragbot ask QUESTION` and `ragbot chat`: answers from the indexed documents, with citations (DESIGN §8).

Both answer through `ragbot.bootstrap.Context`, the same assembly the workers and `ragbot eval` use.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from ragbot.cli.arguments import Commands, load_settings
from ragbot.cli.output import print_json, validation_message
from ragbot.models import EVERYONE, Answer, Passage, Question

__all__ = ["ask", "chat", "register"]


def register(commands: Commands) -> None:
    """Add `ask` and `chat` to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    ask_parser = commands.add_parser("ask", help="answer one question")
    ask_parser.add_argument("question")
    ask_parser.add_argument(
        "--as",
        dest="principals",
        action="append",
        metavar="PRINCIPAL",
        help="ask with these principals (repeatable; default: everyone '*')",
    )
    ask_parser.add_argument(
        "--user", metavar="EMAIL", help="ask as this user, with the groups the principals directory lists"
    )
    ask_parser.add_argument("--json", action="store_true")
    ask_parser.set_defaults(handler=ask)

    chat_parser = commands.add_parser("chat", help="ask questions interactively")
    chat_parser.add_argument("--as", dest="principals", action="append", metavar="PRINCIPAL")
    chat_parser.add_argument("--user", metavar="EMAIL")
    chat_parser.set_defaults(handler=chat)


class _Session:
    """Everything one asker needs, built once."""

    def __init__(self, principals: Sequence[str] | None) -> None:
        from ragbot.bootstrap import Context

        self.principals = tuple(principals or (EVERYONE,))  # validated by Question on every ask
        self.context = Context(load_settings())
        # Built now, not at the first question: a missing model or a mismatched index stops `chat` before its prompt.
        self.retriever, self.generator = self.context.retriever, self.context.generator

    def ask(self, question: Question) -> tuple[Answer, list[Passage]]:
        from ragbot.errors import InputError
        from ragbot.flow import answer

        context = self.context
        if context.index.stats().chunks == 0:
            raise InputError("the index is empty: run 'ragbot ingest PATH' first")
        started = time.perf_counter()
        retrieved = self.retriever.retrieve(question.text, principals=question.principals)
        reply = answer(question, retrieved.passages, generator=self.generator)
        timings = {**retrieved.timings_ms, **reply.timings_ms, "total": _ms_since(started)}
        return reply.model_copy(update={"timings_ms": timings}), retrieved.passages

    def close(self) -> None:
        self.context.close()


def _principals(args: argparse.Namespace) -> tuple[str, ...] | None:
    """--as principals, plus --user's own and their groups from the principals directory."""
    if not args.user:
        return tuple(args.principals) if args.principals else None
    from ragbot.bootstrap import build_directory
    from ragbot.errors import ConfigurationError

    directory = build_directory(load_settings())
    if directory is None:
        raise ConfigurationError("--user needs a principals directory: set RAGBOT_DIRECTORY__PATH to its file")
    return (*directory.principals_for(args.user), *(args.principals or ()))


def _question(text: str, principals: Sequence[str] | None) -> Question:
    from ragbot.errors import InputError

    try:
        return Question(question_id=uuid.uuid4().hex, text=text, principals=tuple(principals or (EVERYONE,)))
    except ValidationError as err:
        # One line, in the validators' own words ("the question is longer than 4000 characters"): pydantic's
        # dump is four lines and quotes the question back.
        raise InputError(validation_message(err, located=False)) from err


def ask(args: argparse.Namespace) -> int:
    """Answer one question, as text with numbered sources or (`--json`) as the contract's JSON object.

    Args:
        args: the parsed `ask` arguments.

    Returns:
        The exit code.
    """
    question = _question(args.question, _principals(args))  # bad input fails before the model loads
    session = _Session(question.principals)
    try:
        reply, passages = session.ask(question)
    finally:
        session.close()
    if args.json:
        print_json(_answer_json(question, reply, passages))
    else:
        print(_render(reply))
    return 0


def chat(args: argparse.Namespace) -> int:
    """Answer each line typed until an empty line, `exit`, `quit` or the end of input.

    Args:
        args: the parsed `chat` arguments.

    Returns:
        The exit code.
    """
    from ragbot.errors import InputError

    session = _Session(_principals(args))
    print(f"Ask about your documents (as {', '.join(session.principals)}). Empty line or Ctrl-D to quit.")
    try:
        while True:
            try:
                text = input("\nyou> ").strip()
            except EOFError:
                print()
                return 0
            if not text or text.lower() in {"exit", "quit"}:
                return 0
            try:
                reply, _ = session.ask(_question(text, session.principals))
            except InputError as err:
                print(f"ragbot: {' '.join(str(err).split())}")
                continue
            print(f"\nragbot> {_render(reply)}")
    finally:
        session.close()


def _answer_json(question: Question, reply: Answer, passages: Sequence[Passage]) -> dict[str, Any]:
    return {
        "question": question.text,
        "answer": reply.text,
        "refused": reply.refused,
        "reason": reply.reason,
        "confidence": reply.confidence,
        "citations": [c.model_dump() for c in reply.citations],
        "passages": [
            {"rank": p.rank, "doc_id": p.chunk.doc_id, "chunk_id": p.chunk.chunk_id, "score": round(p.score, 6)}
            for p in passages
        ],
        "model": reply.model,
        "adapter": reply.adapter,
        "prompt_version": reply.prompt_version,
        "timings_ms": reply.timings_ms,
    }


def _render(reply: Answer) -> str:
    lines = [reply.text, "", "Closest sources:" if reply.refused else "Sources:"]
    if not reply.citations:
        lines[-1] = "(no documents you can see match this question)"
    for c in reply.citations:
        where = " › ".join(part for part in (c.title, c.heading_path) if part)
        lines.append(f"  [{c.n}] {where} ({c.url or c.doc_id})")
        lines.append(f"      “{c.snippet}”")
    return "\n".join(lines)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
