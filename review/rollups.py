"""Daily rollups: the decisions pre-aggregated per UTC day, gateway, served model, served tier and
router category, so the dashboard reads a few thousand rows instead of millions of decisions.

Three tables share that key (see ``review.models``): ``DailyRollup`` (calls, cost, failures,
latency and difficulty histograms), ``DailyFlagRollup`` (flags and dollars per detector version
and kind, and how reviewers judged them) and ``DailyReviewRollup`` (labelled decisions by their
first label, the second label's verdict, and whether they were in a round's random sample).

A day is always rebuilt whole from the source tables, never patched with deltas, so a rollup
cannot drift from the decisions: whatever changed, the next rebuild of its day says what the
decisions say now. Writers note the days they touch (``note_changes``) in their own transaction;
once it commits a refresh is scheduled, which rebuilds every noted day. A lost trigger only
delays the refresh: the periodic sweep runs the same refresh. ``rebuild`` (and the
``rebuild_rollups`` command) rebuilds a range of days from scratch.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from review.models import (
    DIFFICULTY_BUCKETS,
    DIFFICULTY_FIELDS,
    LATENCY_BUCKETS_MS,
    LATENCY_FIELDS,
    DailyFlagRollup,
    DailyGatewayRollup,
    DailyReviewRollup,
    DailyRollup,
    Decision,
    Flag,
    FlagKind,
    Label,
    QueueItem,
    RollupChange,
    RollupDay,
    Verdict,
)

# Judge scores below this count as a failure in the rollups. Fixed rather than read from the
# detector settings: a threshold edited later must not make old days disagree with new ones.
LOW_JUDGE_SCORE = 0.5
# Refreshes are rate-limited: the first change in a window of settings.ROLLUP_REFRESH_SECONDS
# sends one at once, the later ones wait for the beat entry that runs at that same interval, so
# a stream of ingestion batches rebuilds today about once per window, not per batch.
REFRESH_SCHEDULED_KEY = "rollups:refresh-scheduled"
# Days rebuilt per transaction by ``rebuild``: a week of 5M-decision traffic is one aggregate
# of about 400,000 rows.
REBUILD_CHUNK_DAYS = 7

FAILED = (
    (Q(status=Decision.Status.ERROR) & ~Q(error_type__in=Decision.INFRASTRUCTURE_ERRORS))
    | Q(user_feedback=-1)
    | Q(retried=True)
    | Q(escalated=True)
    | Q(judge_score__lt=LOW_JUDGE_SCORE)
)
# The flag's direction, as a first label would confirm it.
CONFIRMING_VERDICT = {
    FlagKind.OVERKILL: Verdict.SHOULD_BE_CHEAPER,
    FlagKind.UNDERPOWERED: Verdict.SHOULD_BE_STRONGER,
}


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _day_of(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=UTC, output_field=DateField())


# --- Noting changes ------------------------------------------------------------------------------


def note_changes(*, decision_ids: Iterable[int]) -> list[date]:
    """Note the days of these decisions as changed, inside the caller's transaction, and have
    them rebuilt once it commits. Returns the days."""
    ids = list(decision_ids)
    if not ids:
        return []
    days = list(
        Decision.objects.filter(pk__in=ids)
        .annotate(day=_day_of("occurred_at"))
        .order_by()
        .values_list("day", flat=True)
        .distinct()
    )
    note_days(days)
    return days


def note_days(days: Iterable[date]) -> None:
    """Note these days as changed; their rollups are rebuilt after the current transaction."""
    unique = sorted(set(days))
    if not unique:
        return
    RollupChange.objects.bulk_create([RollupChange(day=day) for day in unique])
    transaction.on_commit(schedule_refresh, robust=True)


def note_queryset(decisions: "QuerySet[Decision]") -> None:
    """Note the days of the decisions a queryset selects, before an update changes them."""
    note_days(
        decisions.annotate(day=_day_of("occurred_at"))
        .order_by()
        .values_list("day", flat=True)
        .distinct()
    )


def schedule_refresh() -> None:
    """Send a refresh now if none was sent in the last ``ROLLUP_REFRESH_SECONDS``; changes
    within that window are picked up by the beat entry at the same interval. With tasks run
    in-process (embedded mode, no scheduler to sweep up after), refresh now.

    Not a countdown: a worker holds a delayed (ETA) message unacknowledged, and a worker
    holding one does not survive a Redis restart (kombu restores unacked messages on a
    connection that is gone)."""
    from review import tasks  # the tasks module imports the domain modules, this one included

    if settings.CELERY_TASK_ALWAYS_EAGER:
        refresh_changed()  # what the task would do, without its log lines per commit
        return
    if cache.add(REFRESH_SCHEDULED_KEY, True, timeout=settings.ROLLUP_REFRESH_SECONDS):
        tasks.refresh_rollups.delay()


# --- Rebuilding ----------------------------------------------------------------------------------


def refresh_changed() -> int:
    """Rebuild every day with noted changes, one day per transaction. A day another refresh is
    working on is left to it. Returns how many days were rebuilt."""
    days = list(RollupChange.objects.order_by("day").values_list("day", flat=True).distinct())
    rebuilt = 0
    for day in days:
        with transaction.atomic():
            claimed = list(
                RollupChange.objects.filter(day=day)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            if not claimed:
                continue
            _rebuild_locked(day, day)
            RollupChange.objects.filter(pk__in=claimed).delete()
        rebuilt += 1
    return rebuilt


def rebuild(*, first: date, last: date, chunk_days: int = REBUILD_CHUNK_DAYS) -> int:
    """Rebuild the rollups of the days ``first`` to ``last`` (inclusive, UTC) from the source
    tables, ``chunk_days`` per transaction. Returns how many days were rebuilt."""
    if last < first:
        raise ValueError("the last day is before the first")
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=chunk_days - 1))
        with transaction.atomic():
            claimed = list(
                RollupChange.objects.filter(day__gte=start, day__lte=end)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            _rebuild_locked(start, end)
            RollupChange.objects.filter(pk__in=claimed).delete()
        start = end + timedelta(days=1)
    return (last - first).days + 1


def decision_days() -> tuple[date, date] | None:
    """The first and last UTC day with decisions, if any."""
    first = Decision.objects.order_by("occurred_at").values_list("occurred_at", flat=True).first()
    last = Decision.objects.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    if first is None or last is None:
        return None
    return utc_day(first), utc_day(last)


def _rebuild_locked(first: date, last: date) -> None:
    """Replace the rollups of ``first``..``last`` inside the caller's transaction, holding the
    days' rows so that a concurrent rebuild of the same days waits for this one."""
    now = timezone.now()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    RollupDay.objects.bulk_create(
        [RollupDay(day=day, refreshed_at=now) for day in days], ignore_conflicts=True
    )
    # Locked in day order, so two rebuilds of overlapping ranges cannot deadlock.
    list(
        RollupDay.objects.select_for_update()
        .filter(day__gte=first, day__lte=last)
        .order_by("day")
        .values_list("pk", flat=True)
    )
    since, until = day_start(first), day_start(last + timedelta(days=1))
    for table, rows in (
        (DailyRollup, traffic_query(since, until)),
        # From the rows just written: the same figures, summed over models and categories.
        (DailyGatewayRollup, gateway_query(first, last)),
        (DailyFlagRollup, flag_query(since, until)),
        (DailyReviewRollup, review_query(since, until)),
    ):
        table.objects.filter(day__gte=first, day__lte=last).delete()
        _insert_select(table, rows)
    RollupDay.objects.filter(day__gte=first, day__lte=last).update(refreshed_at=now)


def _insert_select(table: type[Model], rows: QuerySet[Any]) -> int:
    """``INSERT INTO table … SELECT``: the aggregate goes from the source tables into the rollup
    without a round trip through Python. The query names each column ``r_<rollup field>``
    (the prefix keeps the names clear of the source model's fields). Returns the rows
    inserted."""
    sql, params = rows.query.sql_with_params()
    columns = [*rows.query.values_select, *rows.query.annotation_select]
    if not all(name.startswith("r_") for name in columns):
        raise ValueError(f"rollup query columns must be named r_<field>: {columns}")
    quote = connection.ops.quote_name
    column_of = {field.name: str(field.column) for field in table._meta.concrete_fields}
    targets = ", ".join(quote(column_of[name[2:]]) for name in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(table._meta.db_table)} ({targets}) "  # noqa: S608 (names from our models)
            f"SELECT {', '.join(quote(name) for name in columns)} FROM ({sql}) AS rolled",
            params,
        )
        return cursor.rowcount


def _key(prefix: str = "") -> dict[str, Any]:
    """The rollup key of a decision (through ``prefix``), named as the rollup's fields."""
    return {
        "r_day": _day_of(f"{prefix}occurred_at"),
        "r_gateway": F(f"{prefix}gateway_id"),
        "r_model": F(f"{prefix}served_model_id"),
        "r_tier": F(f"{prefix}served_tier_id"),
        "r_category": F(f"{prefix}router_category"),
    }


def latency_bucket_filters() -> dict[str, Q]:
    """The filter each latency column counts: the bucket's range, upper bound included."""
    filters = {}
    lower: int | None = None
    for field, upper in zip(LATENCY_FIELDS, LATENCY_BUCKETS_MS, strict=False):
        bucket = Q(latency_ms__lte=upper)
        filters[field] = bucket if lower is None else bucket & Q(latency_ms__gt=lower)
        lower = upper
    filters[LATENCY_FIELDS[-1]] = Q(latency_ms__gt=LATENCY_BUCKETS_MS[-1])
    return filters


def difficulty_bounds(index: int) -> tuple[float, float]:
    """The difficulty range a bucket counts, lower bound included; the last includes 1."""
    return index / DIFFICULTY_BUCKETS, (index + 1) / DIFFICULTY_BUCKETS


def difficulty_bucket_filters() -> dict[str, Q]:
    filters = {}
    for index, field in enumerate(DIFFICULTY_FIELDS):
        low, high = difficulty_bounds(index)
        bucket = Q(assessment__difficulty__gte=low)
        if index < DIFFICULTY_BUCKETS - 1:
            bucket &= Q(assessment__difficulty__lt=high)
        filters[field] = bucket
    return filters


def traffic_query(since: datetime, until: datetime) -> "QuerySet[Any, Any]":
    """Calls, cost, failures and the histograms per key, of the decisions in [since, until)."""
    counters = {
        f"r_{field}": Count("pk", filter=bucket)
        for field, bucket in {**latency_bucket_filters(), **difficulty_bucket_filters()}.items()
    }
    return (
        Decision.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
        .values(**_key())
        .annotate(
            r_decisions=Count("pk"),
            r_cost_usd=Coalesce(Sum("cost_usd"), Value(Decimal(0)), output_field=DecimalField()),
            r_failures=Count("pk", filter=FAILED),
            r_assessed=Count("assessment"),
            **counters,
        )
        .order_by()
    )


TRAFFIC_COUNTS = (
    "decisions",
    "cost_usd",
    "failures",
    "assessed",
    *LATENCY_FIELDS,
    *DIFFICULTY_FIELDS,
)


def gateway_query(first: date, last: date) -> "QuerySet[Any, Any]":
    """The traffic rollups of [first, last] summed per day, gateway and tier."""
    return (
        DailyRollup.objects.filter(day__gte=first, day__lte=last)
        .values(r_day=F("day"), r_gateway=F("gateway_id"), r_tier=F("tier_id"))
        .annotate(**{f"r_{name}": Sum(name) for name in TRAFFIC_COUNTS})
        .order_by()
    )


def _labels_of(decision: Any) -> "QuerySet[Label]":
    # The order that makes one label "first": rounds.agreement pairs verdicts the same way.
    return Label.objects.filter(decision=decision).order_by("created_at", "pk")


def flag_query(since: datetime, until: datetime) -> "QuerySet[Any, Any]":
    """Flags, dollars, reviewed and confirmed flags per key, version and kind."""
    first_verdict = Subquery(_labels_of(OuterRef("decision_id")).values("verdict")[:1])
    confirming = Q()
    for kind, verdict in CONFIRMING_VERDICT.items():
        confirming |= Q(kind=kind, first_verdict=verdict)
    return (
        Flag.objects.filter(decision__occurred_at__gte=since, decision__occurred_at__lt=until)
        .alias(first_verdict=first_verdict)
        .values(**_key("decision__"), r_detector_version=F("detector_version"), r_kind=F("kind"))
        .annotate(
            r_flags=Count("pk"),
            r_dollars=Coalesce(Sum("dollars"), Value(Decimal(0)), output_field=DecimalField()),
            r_reviewed=Count(
                "pk", filter=Q(first_verdict__isnull=False) & ~Q(first_verdict=Verdict.UNSURE)
            ),
            r_confirmed=Count("pk", filter=confirming),
        )
        .order_by()
    )


def review_query(since: datetime, until: datetime) -> "QuerySet[Any, Any]":
    """Labelled decisions per key, first verdict and right tier, second verdict and sampling."""
    labels = _labels_of(OuterRef("pk"))
    labelled = Label.objects.filter(
        decision__occurred_at__gte=since, decision__occurred_at__lt=until
    ).values("decision_id")
    return (
        Decision.objects.filter(pk__in=labelled)
        .values(
            **_key(),
            r_verdict=Subquery(labels.values("verdict")[:1]),
            r_right_tier=Subquery(labels.values("right_tier")[:1]),
            r_second_verdict=Coalesce(Subquery(labels.values("verdict")[1:2]), Value("")),
            r_sampled=Exists(
                QueueItem.objects.filter(decision=OuterRef("pk"), source=QueueItem.Source.SAMPLE)
            ),
        )
        .annotate(r_decisions=Count("pk"))
        .order_by()
    )


def pending_days() -> int:
    """How many days have changes waiting for a refresh."""
    return RollupChange.objects.values("day").distinct().count()
