"""The Elasticsearch backends: the document index (`ElasticsearchIndex`) and the interaction log.

    client.py        `connect(settings)` and the translation of the client's errors into ragbot's
    mapping.py       index settings, the strict mapping, the `_meta` record of what built a version
    queries.py       request bodies and answers as pure functions: both search legs, the `rrf` retriever, records
    index.py         `ElasticsearchIndex`: versions behind the alias, bulk writes, documents, searches
    interactions.py  `ElasticsearchInteractionLog`: the interaction log's two indices

Importing this package does not import the `elasticsearch` SDK; each module imports it when first used.
"""

from ragbot.backends.elasticsearch.client import connect, translate_errors
from ragbot.backends.elasticsearch.index import ElasticsearchIndex
from ragbot.backends.elasticsearch.interactions import ElasticsearchInteractionLog

__all__ = ["ElasticsearchIndex", "ElasticsearchInteractionLog", "connect", "translate_errors"]
