"""Storing batches of decision records: validate each, store the valid ones exactly once, and
say what happened to every record.

The hot insert on PostgreSQL streams the batch with ``COPY`` into a temporary table and moves it
with ``INSERT … ON CONFLICT DO NOTHING RETURNING``: the unique (gateway, event id) constraint,
not a check before writing, decides what is a duplicate, so concurrent posts of the same batch
store each record once. SQLite (the embedded default) takes the ORM's ``bulk_create``.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NotRequired, TypedDict

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from review import catalog, records, redaction, tasks
from review.models import CatalogModel, Decision, Gateway

Status = Literal["accepted", "duplicate", "rejected"]
logger = logging.getLogger(__name__)
REDACTED_FIELDS = ("prompt_text", "response_excerpt", "error_message", "router_cause")
JSON_FIELDS = ("candidates", "fallback_chain", "metadata")


class RecordResult(TypedDict):
    index: int
    event_id: str | None
    status: Status
    errors: NotRequired[dict[str, str]]


@dataclass
class BatchReport:
    results: list[RecordResult] = field(default_factory=list)
    stored_ids: list[int] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(result["status"] == status for result in self.results)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.count("accepted"),
            "duplicate": self.count("duplicate"),
            "rejected": self.count("rejected"),
            "results": self.results,
        }


@dataclass(frozen=True)
class Source:
    """A log format we accept: how one of its records becomes ours, and how to name its fields
    in error messages."""

    to_record: Callable[[dict[str, Any]], dict[str, Any]]
    source_field: Callable[[str], str]
    name: str = "a decision record"


OUR_SCHEMA = Source(to_record=lambda raw: raw, source_field=lambda name: name)


def ingest_batch(*, gateway: Gateway, batch: list[Any], source: Source = OUR_SCHEMA) -> BatchReport:
    """Validate and store a batch of records. Returns after the commit."""
    report = BatchReport()
    candidates: dict[str, tuple[int, dict[str, Any]]] = {}
    duplicates_in_batch: list[tuple[int, str]] = []
    for index, raw in enumerate(batch):
        values, errors = _parse(raw, source)
        event_id = values.get("event_id") or _event_id_of(raw, source)
        if errors:
            report.results.append(_result(index, event_id, "rejected", errors))
        elif values["event_id"] in candidates:
            duplicates_in_batch.append((index, values["event_id"]))
        else:
            candidates[values["event_id"]] = (index, values)

    with transaction.atomic():
        rows = _build(gateway=gateway, candidates=candidates.values())
        inserted = _insert(rows)
        if inserted:
            # robust: a broker that is down must not fail a request whose records are stored;
            # they stay pending and the sweep sends them once it is back.
            transaction.on_commit(
                partial(tasks.process_decisions.delay, list(inserted.values())), robust=True
            )
    for event_id, (index, _) in candidates.items():
        status: Status = "accepted" if event_id in inserted else "duplicate"
        report.results.append(_result(index, event_id, status))
    report.results.extend(_result(i, e, "duplicate") for i, e in duplicates_in_batch)
    report.results.sort(key=lambda result: result["index"])
    report.stored_ids = sorted(inserted.values())
    return report


def _parse(raw: Any, source: Source) -> tuple[dict[str, Any], dict[str, str]]:
    size = len(orjson.dumps(raw))
    if size > settings.INGEST_MAX_RECORD_BYTES:
        limit = settings.INGEST_MAX_RECORD_BYTES
        return {}, {"record": f"is {size} bytes; the limit is {limit}"}
    if not isinstance(raw, dict):
        return {}, {"record": f"must be an object, got {records.kind(raw)}"}
    try:
        values, errors = records.parse_decision(source.to_record(raw))
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as error:
        # A shape the mapping did not expect: this record is refused, the batch goes on.
        logger.info("record refused by %s mapping: %r", source.name, error)
        return {}, {"record": f"could not be read as {source.name}: {type(error).__name__}"}
    return values, {source.source_field(name): reason for name, reason in errors.items()}


def _event_id_of(raw: Any, source: Source) -> Any:
    return raw.get(source.source_field("event_id")) if isinstance(raw, dict) else None


def _result(
    index: int, event_id: Any, status: Status, errors: dict[str, str] | None = None
) -> RecordResult:
    result = RecordResult(
        index=index, event_id=event_id if isinstance(event_id, str) else None, status=status
    )
    if errors:
        result["errors"] = errors
    return result


_COLUMNS = [f for f in Decision._meta.concrete_fields if not f.primary_key]
_COLUMN_LIST = ", ".join(f'"{f.column}"' for f in _COLUMNS)
_TABLE = Decision._meta.db_table


def _build(
    *, gateway: Gateway, candidates: Iterable[tuple[int, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Each record's full row, by column: its values over the model's defaults.

    Plain dicts rather than model instances: building a ``Decision`` costs more than the whole
    rest of the hot path.
    """
    models: dict[str, CatalogModel] = {}
    received_at = timezone.now()
    defaults = {f.attname: f.get_default() for f in _COLUMNS}
    rows = []
    for _, values in candidates:
        name = values.pop("served_model")
        model = models.get(name)
        if model is None:
            model = models[name] = catalog.resolve_model(name)
        for text_field in REDACTED_FIELDS:
            if values.get(text_field):
                values[text_field] = redaction.redact(values[text_field])
        if values.get("metadata"):
            values["metadata"] = redaction.redact_json(values["metadata"])
        row = {
            **defaults,
            **values,
            "gateway_id": gateway.pk,
            "served_model_id": model.pk,
            "served_model_name": name,
            "served_tier_id": model.tier_id,
            "received_at": received_at,
        }
        if row["cost_usd"] is not None:
            row["cost_source"] = Decision.CostSource.LOGGED
        elif row["input_tokens"] is not None and row["output_tokens"] is not None:
            row["cost_usd"] = model.cost_of(
                input_tokens=row["input_tokens"], output_tokens=row["output_tokens"]
            )
            if row["cost_usd"] is not None:
                row["cost_source"] = Decision.CostSource.CATALOG
        rows.append(row)
    return rows


def _insert(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert what is new; returns the stored decisions' ids by event id."""
    if not rows:
        return {}
    if connection.vendor == "postgresql":
        return _insert_with_copy(rows)
    existing = set(
        Decision.objects.filter(
            gateway_id=rows[0]["gateway_id"], event_id__in=[row["event_id"] for row in rows]
        ).values_list("event_id", flat=True)
    )
    new = [Decision(**row) for row in rows if row["event_id"] not in existing]
    # ignore_conflicts: a concurrent post of the same event is a duplicate, not an error.
    Decision.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
    return dict(
        Decision.objects.filter(
            gateway_id=rows[0]["gateway_id"], event_id__in=[d.event_id for d in new]
        ).values_list("event_id", "pk")
    )


def _insert_with_copy(rows: list[dict[str, Any]]) -> dict[str, int]:
    with connection.cursor() as cursor:
        # Dropped at commit: nothing lingers on a pooled connection, and a schema change is
        # picked up by the next batch. Dropped first too, for a caller's outer transaction.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.ingest_buffer")
        cursor.execute(
            f"CREATE TEMP TABLE ingest_buffer ON COMMIT DROP AS "  # noqa: S608 (names, not data)
            f"SELECT {_COLUMN_LIST} FROM {_TABLE} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY ingest_buffer ({_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_row(row))
        cursor.execute(
            f"INSERT INTO {_TABLE} ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM ingest_buffer "  # noqa: S608
            f"ON CONFLICT (gateway_id, event_id) DO NOTHING RETURNING event_id, id"
        )
        return dict(cursor.fetchall())


_JSON_COLUMNS = {f.attname for f in _COLUMNS if f.name in JSON_FIELDS}


def _row(row: dict[str, Any]) -> list[Any]:
    return [
        Jsonb(row[f.attname]) if f.attname in _JSON_COLUMNS else row[f.attname] for f in _COLUMNS
    ]


OutcomeStatus = Literal["updated", "unknown_event", "stale", "rejected"]


class OutcomeResult(TypedDict):
    index: int
    event_id: str | None
    status: OutcomeStatus
    errors: NotRequired[dict[str, str]]


def record_outcomes(*, gateway: Gateway, batch: list[Any]) -> list[OutcomeResult]:
    """Apply late outcome signals to decisions by event id. Unknown ids are reported."""
    results: list[OutcomeResult] = []
    updated_ids: list[int] = []
    with transaction.atomic():
        for index, raw in enumerate(batch):
            values, errors = records.parse_outcome(raw)
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            result = OutcomeResult(
                index=index,
                event_id=event_id if isinstance(event_id, str) else None,
                status="rejected",
            )
            if errors:
                result["errors"] = errors
                results.append(result)
                continue
            signal_time = values.pop("occurred_at", None) or timezone.now()
            decision_id = (
                Decision.objects.filter(gateway=gateway, event_id=values.pop("event_id"))
                .values_list("pk", flat=True)
                .first()
            )
            if decision_id is None:
                result["status"] = "unknown_event"
                result["errors"] = {"event_id": "no decision of this gateway has this event id"}
            else:
                # Processing runs again (with fresh attempts): a late thumbs-down can turn a
                # decision into a misroute. An outcome older than the one stored loses: retried
                # or reordered posts must not roll a decision back to an earlier signal.
                applied = (
                    Decision.objects.filter(pk=decision_id)
                    .filter(
                        Q(outcome_updated_at__isnull=True) | Q(outcome_updated_at__lte=signal_time)
                    )
                    .update(
                        **values,
                        outcome_updated_at=signal_time,
                        processed_at=None,
                        processing_failed_at=None,
                        processing_attempts=0,
                    )
                )
                if applied:
                    updated_ids.append(decision_id)
                    result["status"] = "updated"
                else:
                    result["status"] = "stale"
                    result["errors"] = {
                        "occurred_at": "older than the outcome already recorded for this event; "
                        "not applied"
                    }
            results.append(result)
        if updated_ids:
            transaction.on_commit(partial(tasks.process_decisions.delay, updated_ids), robust=True)
    return results
