"""HTML extraction: the share of each test page's content sentences that the extractor keeps, before and now.

    python bench/html_extraction.py                 # the old extractor at c5cdaa7 against the working tree's
    python bench/html_extraction.py --before REV    # any revision whose load.py still has `_html_text`

The pages and their sentences are the resilience suite's (tests/resilience/html_pages.py, pages in
tests/resilience/html/). The old extractor is read from `git show REV:shared/src/ragbot/ingestion/load.py` and run
in this process; leaks are the page's `DROP` fragments found in the text. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import machine  # noqa: E402
from tests.resilience.html_pages import PAGES, kept  # noqa: E402

from ragbot.ingestion.html_text import html_to_markdown  # noqa: E402
from ragbot.ingestion.load import normalize_text  # noqa: E402

# The last commit whose HTML extraction kept only headings, <p>, <li>, <tr>, <pre>, <blockquote>, <dt> and <dd>.
BEFORE = "c5cdaa7"

Extractor = Callable[[str], tuple[str, str]]


def old_extractor(rev: str) -> Extractor:
    path = f"{rev}:shared/src/ragbot/ingestion/load.py"
    source = subprocess.run(["git", "show", path], cwd=REPO, check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("ragbot_old_load")
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source, path, "exec"), module.__dict__)  # our own code at an older commit
    extractor: Extractor = module._html_text
    return extractor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="the revision whose extractor is the baseline")
    args = parser.parse_args(argv)
    extractors = {f"before ({args.before})": old_extractor(args.before), "now": html_to_markdown}
    print(f"{datetime.now(UTC):%Y-%m-%d}, {machine()}\n")
    print("| page | sentences | " + " | ".join(f"kept {name} | leaks {name}" for name in extractors) + " |")
    print("|---|---|" + "---|---|" * len(extractors))
    totals = dict.fromkeys(extractors, 0)
    leaks = dict.fromkeys(extractors, 0)
    for page in PAGES:
        html = page.path.read_text(encoding="utf-8")
        cells = []
        for name, extract in extractors.items():
            text = normalize_text(extract(html)[0])
            found = len(kept(page, text))
            leaked = [fragment for fragment in page.drop if fragment.lower() in text.lower()]
            totals[name] += found
            leaks[name] += len(leaked)
            cells += [f"{found} ({found / len(page.keep):.0%})", str(len(leaked))]
        print(f"| {page.name} | {len(page.keep)} | " + " | ".join(cells) + " |")
    total = sum(len(page.keep) for page in PAGES)
    cells = [f"**{totals[n]} ({totals[n] / total:.0%})** | {leaks[n]}" for n in extractors]
    print(f"| all {len(PAGES)} pages | {total} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
