"""ragbot: answers staff questions from the company's own documents, with citations.

Importing this package has no side effects; the command line lives in `ragbot.cli`.
"""

__version__ = "0.1.0"
