"""The distributed interaction log: two Elasticsearch indices next to the knowledge store.

    {index}            one document per question (_id = question_id). The fields that dashboards filter and
                       aggregate on (status, platform, model, confidence, total latency, dates) are mapped; the
                       whole redacted record rides along in `record`, stored but not indexed.
    {index}-feedback   one document per question and person (_id = question_id/user_hash), so a later click by the
                       same person replaces the earlier one.

Feedback lives apart from its record, as in the SQLite log: a click may arrive before the reply hop has written the
record, and re-recording an answer must not drop the votes already given. Reads by id are real-time; scans
(`records`, `purge`, `forget_user`) refresh first, so they see every write made before they were called.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ragbot.backends.elasticsearch.client import created, expunge_deletes, if_found, translate_errors
from ragbot.interactions.records import FeedbackEntry, InteractionRecord

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

__all__ = ["ElasticsearchInteractionLog"]

_PAGE = 500
_TERMS_BATCH = 1000

_RECORD_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "question_id": {"type": "keyword"},
        "platform": {"type": "keyword"},
        "channel": {"type": "keyword"},
        "user_hash": {"type": "keyword"},
        "principals": {"type": "keyword"},
        "status": {"type": "keyword"},
        "model": {"type": "keyword"},
        "adapter": {"type": "keyword"},
        "prompt_version": {"type": "keyword"},
        "confidence": {"type": "float"},
        "total_ms": {"type": "float"},
        "cited": {"type": "keyword"},
        "asked_at": {"type": "date"},
        "recorded_at": {"type": "date"},
        "record": {"type": "object", "enabled": False},
    },
}
_FEEDBACK_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "question_id": {"type": "keyword"},
        "user_hash": {"type": "keyword"},
        "value": {"type": "keyword"},
        "given_at": {"type": "date"},
        "entry": {"type": "object", "enabled": False},
    },
}


class ElasticsearchInteractionLog:
    """`InteractionLog` on Elasticsearch 8.x/9.x; creates its two indices on first use.

    Args:
        client: The official client (see `client.connect`); closed by `close()`.
        index: Name of the records index; feedback goes to `{index}-feedback`.
        shards, replicas: For the indices this log creates.
    """

    def __init__(self, client: Elasticsearch, *, index: str, shards: int = 1, replicas: int = 1) -> None:
        self._es = client
        self._records = index
        self._feedback = f"{index}-feedback"
        self._ensure(self._records, _RECORD_MAPPINGS, shards=shards, replicas=replicas)
        self._ensure(self._feedback, _FEEDBACK_MAPPINGS, shards=shards, replicas=replicas)

    @translate_errors
    def record(self, record: InteractionRecord) -> None:
        self._es.index(index=self._records, id=record.question_id, document=_record_source(record))

    @translate_errors
    def add_feedback(self, question_id: str, entry: FeedbackEntry) -> None:
        self._es.index(
            index=self._feedback,
            id=f"{question_id}/{entry.user_hash}",
            document={
                "question_id": question_id,
                "user_hash": entry.user_hash,
                "value": entry.value,
                "given_at": _iso(entry.given_at),
                "entry": entry.model_dump(mode="json"),
            },
            refresh="wait_for",  # a person's click is rare and nobody waits on it: make it visible to reads at once
        )

    @translate_errors
    def get(self, question_id: str) -> InteractionRecord | None:
        found = if_found(self._es.get, index=self._records, id=question_id, source_includes=["record"])
        if found is None:
            return None
        record = InteractionRecord.model_validate(found["_source"]["record"])
        return self._with_feedback([record])[0]

    @translate_errors
    def records(self, *, since: datetime | None = None) -> Iterator[InteractionRecord]:
        self._refresh()
        query = {"range": {"asked_at": {"gte": _iso(since)}}} if since else {"match_all": {}}
        page: list[InteractionRecord] = []
        for hit in self._scan(self._records, query, sort=["asked_at", "question_id"], fields=["record"]):
            page.append(InteractionRecord.model_validate(hit["_source"]["record"]))
            if len(page) == _PAGE:
                yield from self._with_feedback(page)
                page = []
        yield from self._with_feedback(page)

    @translate_errors
    def purge(self, *, older_than: datetime) -> int:
        self._refresh()
        old = {"range": {"asked_at": {"lt": _iso(older_than)}}}
        self._delete_feedback_of(self._ids(old))
        self._delete(self._feedback, {"range": {"given_at": {"lt": _iso(older_than)}}})
        purged = self._delete(self._records, old)
        expunge_deletes(self._es, f"{self._records},{self._feedback}")  # retention is a promise about the disk too
        return purged

    @translate_errors
    def forget_user(self, user_hash: str) -> int:
        self._refresh()
        asked_by = {"term": {"user_hash": user_hash}}
        own = self._ids(asked_by)
        given = self._delete(
            self._feedback, {"bool": {"filter": [asked_by], "must_not": [{"terms": {"question_id": own}}]}}
        )
        self._delete_feedback_of(own)
        removed = self._delete(self._records, asked_by) + given
        expunge_deletes(self._es, f"{self._records},{self._feedback}")  # their text out of the segments too
        return removed

    def close(self) -> None:
        self._es.close()

    # -- internals ------------------------------------------------------------------------------------------------

    @translate_errors
    def _ensure(self, name: str, mappings: dict[str, Any], *, shards: int, replicas: int) -> None:
        if self._es.indices.exists(index=name):
            # Fields added by a newer ragbot are added to the mapping (additive changes only; strict mapping).
            self._es.indices.put_mapping(index=name, properties=mappings["properties"])
            return
        # Another worker may create it between the check and this call: that is fine.
        created(
            self._es.indices.create,
            index=name,
            mappings=mappings,
            settings={"number_of_shards": shards, "number_of_replicas": replicas},
        )

    def _refresh(self) -> None:
        self._es.indices.refresh(index=f"{self._records},{self._feedback}")

    def _with_feedback(self, records: list[InteractionRecord]) -> list[InteractionRecord]:
        if not records:
            return records
        votes: dict[str, list[FeedbackEntry]] = {}
        query = {"terms": {"question_id": [r.question_id for r in records]}}
        fields = ["question_id", "entry"]
        for hit in self._scan(self._feedback, query, sort=["question_id", "given_at", "user_hash"], fields=fields):
            source = hit["_source"]
            votes.setdefault(source["question_id"], []).append(FeedbackEntry.model_validate(source["entry"]))
        return [
            r.model_copy(update={"feedback": tuple(votes[r.question_id])}) if r.question_id in votes else r
            for r in records
        ]

    def _ids(self, query: dict[str, Any]) -> list[str]:
        return [hit["_id"] for hit in self._scan(self._records, query, sort=["question_id"], fields=[])]

    def _delete_feedback_of(self, question_ids: Sequence[str]) -> None:
        for start in range(0, len(question_ids), _TERMS_BATCH):
            self._delete(self._feedback, {"terms": {"question_id": list(question_ids[start : start + _TERMS_BATCH])}})

    def _delete(self, index: str, query: dict[str, Any]) -> int:
        response = self._es.delete_by_query(index=index, query=query, refresh=True, conflicts="proceed")
        return int(response["deleted"])

    def _scan(self, index: str, query: dict[str, Any], *, sort: Iterable[str], fields: list[str]) -> Iterator[Any]:
        """Every hit of `query` in `sort` order, paged with search_after (the last sort key must be unique)."""
        after: list[Any] | None = None
        while True:
            response = self._es.search(
                index=index,
                query=query,
                size=_PAGE,
                sort=[{key: "asc"} for key in sort],
                source={"includes": fields} if fields else False,
                search_after=after,
            )
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < _PAGE:
                return
            after = hits[-1]["sort"]


def _record_source(record: InteractionRecord) -> dict[str, Any]:
    stored = record.model_copy(update={"feedback": ()})
    return {
        "question_id": record.question_id,
        "platform": record.platform,
        "channel": record.channel,
        "user_hash": record.user_hash,
        "principals": list(record.principals),
        "status": record.status,
        "model": record.model,
        "adapter": record.adapter,
        "prompt_version": record.prompt_version,
        "confidence": record.confidence,
        "total_ms": record.timings_ms.get("total"),
        "cited": list(record.citations),
        "asked_at": _iso(record.asked_at),
        "recorded_at": _iso(record.recorded_at),
        "record": stored.model_dump(mode="json"),
    }


def _iso(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
