"""A corpus with four audiences and a canary word in every title, heading, sentence, link and file name.

One sidecar at the corpus root says who reads what (`hr/*`, `eng/*`, `joint/*`); the documents carry nothing of
their own, so only the sidecar keeps them apart, however the corpus is ingested. Every document answers
`QUESTION`, so retrieval finds every document an asker may read, and a canary of any other audience in an answer,
a citation or a passage is a leak.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ragbot.models import EVERYONE

QUESTION = "What is the codeword?"

# audience → (the canary, the document's path under the corpus, its ACL as the sidecar gives it)
AUDIENCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "public": ("quokkapub", "public/quokkapub-handbook.md", (EVERYONE,)),
    "hr": ("quokkahr", "hr/quokkahr-salary-bands.md", ("group:hr",)),
    "eng": ("quokkaeng", "eng/quokkaeng-deploy-keys.md", ("group:eng",)),
    "hr+eng": ("quokkajoint", "joint/quokkajoint-reorg.md", ("group:hr", "group:eng")),
}

# principal set → the audiences it may read
PRINCIPALS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "everyone": ((EVERYONE,), frozenset({"public"})),
    "hr": ((EVERYONE, "group:hr"), frozenset({"public", "hr", "hr+eng"})),
    "eng": ((EVERYONE, "group:eng"), frozenset({"public", "eng", "hr+eng"})),
    "both": ((EVERYONE, "group:hr", "group:eng"), frozenset(AUDIENCES)),
    "stranger": (("user:mallory@elsewhere.example",), frozenset()),
}

SIDECAR = """\
default = ["*"]

[[rule]]
pattern = "hr/*"
principals = ["group:hr"]

[[rule]]
pattern = "eng/*"
principals = ["group:eng"]

[[rule]]
pattern = "joint/*"
principals = ["group:hr", "group:eng"]
"""


def write_corpus(root: Path) -> Path:
    """Write the corpus and its sidecar under `root` (created); return `root`."""
    for canary, path, _ in AUDIENCES.values():
        file = root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(
            f"---\nurl: https://intranet.example/{canary}/page\n---\n"
            f"# {canary.capitalize()} notes\n\n## The {canary} codeword\n\n"
            f"The codeword is {canary}. Say {canary} at the {canary} desk. The {canary} team keeps it.\n"
        )
    (root / ".ragbot-acl.toml").write_text(SIDECAR)
    return root


def audience_of(doc_id: str) -> str:
    """The audience of a document by the canary in its id (ids differ with where an ingest starts)."""
    return next(name for name, (canary, _, _) in AUDIENCES.items() if canary in doc_id)


def forbidden(principals: str) -> list[str]:
    """The canaries a principal set must never see."""
    allowed = PRINCIPALS[principals][1]
    return [canary for name, (canary, _, _) in AUDIENCES.items() if name not in allowed]


def leaks(principals: str, texts: Iterable[str]) -> list[str]:
    """The forbidden canaries that appear anywhere in `texts` (empty: no leak)."""
    seen = " ".join(texts).casefold()
    return [canary for canary in forbidden(principals) if canary in seen]
