"""Rollups cannot drift: every KPI and every chart of the dashboard equals a direct query on the
decisions, flags and labels for the same filters, after processing, late outcomes, re-detection,
new and changed labels, and catalog changes.

The reference figures below are computed the long way, from the source rows in Python, with
none of review.rollups' or review.metrics' code. The same tests run on SQLite too (see
``test_the_same_tests_pass_on_sqlite``).
"""

import json
import math
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import httpx
import pytest
import redis
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from sklearn.metrics import cohen_kappa_score

from review import catalog, charts, ingestion, labels, metrics, pipeline, rollups
from review.models import (
    ApiKey,
    Assessment,
    CatalogModel,
    DailyFlagRollup,
    DailyGatewayRollup,
    DailyReviewRollup,
    DailyRollup,
    Decision,
    DetectorSettings,
    Flag,
    FlagKind,
    Gateway,
    Label,
    LabelEvent,
    QueueItem,
    ReviewRound,
    RollupChange,
    Tier,
    Verdict,
)

from . import processes

FIRST = date(2026, 11, 23)  # a Monday
LAST = date(2026, 12, 2)
INFRASTRUCTURE = {"rate_limit", "timeout", "provider_error", "configuration"}
PROMPTS = {
    "greeting": ["hi there!", "Hello, thanks a lot", "good morning"],
    "faq": ["What are your support hours?", "How do I reset my password?"],
    "code": [
        "Write a Python function that parses ISO 8601 dates with time zones, handles leap "
        "seconds, and explain step by step why each edge case matters; include unit tests.",
    ],
    "math": [
        "Prove that the sum of the first n odd numbers is n squared, then derive a closed form "
        "for the sum of squares and explain each step of the induction in detail.",
    ],
    "": ["Summarise this ticket for the on-call engineer."],
}
MODELS = ["gpt-4o-mini", "gpt-5-mini", "claude-sonnet-4-5", "o3", "acme-internal-13b"]


def is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def same_money(found: Decimal | float, expected: Decimal | float) -> bool:
    """Exact on PostgreSQL; SQLite sums decimals as floats, so within a millionth there."""
    if is_sqlite():
        return abs(Decimal(str(found)) - Decimal(str(expected))) < Decimal("0.000001")
    return Decimal(str(found)) == Decimal(str(expected))


# --- Traffic ------------------------------------------------------------------------------------


@pytest.fixture
def rob(db: None) -> User:
    from review import roles

    roles.ensure_roles()
    return User.objects.create_user("rob", "rob@example.com", "correct horse battery")


@pytest.fixture
def traffic(make_decision: Callable[..., Decision], reviewer: User, rob: User) -> list[Decision]:
    """Ten days of mixed traffic through two gateways, processed by the real pipeline, with
    flags, labels (some doubly), a round's random sample, and the rollups refreshed."""
    rng = random.Random(11)
    batch = Gateway.objects.create(name="batch-jobs")
    prod = Gateway.objects.get(name="prod-proxy")
    made = []
    for n in range(260):
        category = rng.choice(list(PROMPTS))
        model_name = rng.choice(MODELS)
        model = catalog.resolve_model(model_name)
        tokens_in, tokens_out = rng.randint(5, 4000), rng.randint(5, 1500)
        failed = rng.random() < 0.12
        made.append(
            make_decision(
                model_name,
                gateway=batch if n % 3 == 0 else prod,
                occurred_at=datetime.combine(FIRST, datetime.min.time(), tzinfo=UTC)
                + timedelta(seconds=rng.randint(0, 10 * 86400 - 1)),
                router_category=category,
                router_score=round(rng.random(), 3),
                prompt_text=rng.choice(PROMPTS[category]) + f" (#{n})",
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_usd=None
                if rng.random() < 0.1
                else model.cost_of(input_tokens=tokens_in, output_tokens=tokens_out),
                latency_ms=None if rng.random() < 0.05 else int(rng.lognormvariate(7, 1.2)),
                status="error" if failed else "success",
                error_type=rng.choice(["rate_limit", "context_window", "output_invalid"])
                if failed
                else "",
                user_feedback=rng.choice([None, None, None, 1, -1]),
                judge_score=rng.choice([None, None, 0.2, 0.45, 0.5, 0.9]),
                retried=rng.random() < 0.04,
                escalated=rng.random() < 0.03,
            )
        )
    pipeline.process_in_chunks([d.pk for d in made])

    flagged = list(Decision.objects.filter(flags__isnull=False).distinct().order_by("pk")[:40])
    verdicts = list(Verdict.values)
    tiers = list(Tier.objects.order_by("rank"))
    for index, decision in enumerate(flagged):
        labels.record_label(
            decision=decision,
            reviewer=reviewer,
            verdict=rng.choice(verdicts),
            right_tier=rng.choice([None, *tiers]),
            note="",
            source=LabelEvent.Source.REVIEW,
        )
        if index % 3 == 0:
            labels.record_label(
                decision=decision,
                reviewer=rob,
                verdict=rng.choice(verdicts),
                right_tier=None,
                note="",
                source=LabelEvent.Source.REVIEW,
            )
    review_round = ReviewRound.objects.create(week_start=FIRST)
    unflagged = list(Decision.objects.filter(flags__isnull=True).order_by("pk")[:25])
    for position, decision in enumerate(unflagged):
        QueueItem.objects.create(
            round=review_round, decision=decision, source="sample", position=position
        )
        if position < 20:
            labels.record_label(
                decision=decision,
                reviewer=reviewer,
                verdict=rng.choice(verdicts),
                right_tier=None,
                note="",
                source=LabelEvent.Source.REVIEW,
            )
    rollups.refresh_changed()
    return made


# --- The reference: straight from the source rows --------------------------------------------


@dataclass
class Reference:
    decisions: int = 0
    cost: Decimal = Decimal(0)
    calls_by_tier: Counter = field(default_factory=Counter)
    failures_by_tier: Counter = field(default_factory=Counter)
    daily_calls: Counter = field(default_factory=Counter)
    daily_cost: dict = field(default_factory=lambda: defaultdict(Decimal))
    latencies: dict = field(default_factory=lambda: defaultdict(list))
    difficulty: dict = field(default_factory=lambda: defaultdict(lambda: [0] * 10))
    flags: Counter = field(default_factory=Counter)
    flag_dollars: dict = field(default_factory=lambda: defaultdict(Decimal))
    reviewed: Counter = field(default_factory=Counter)
    confirmed: Counter = field(default_factory=Counter)
    weekly: dict = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    )
    waste_by_model: dict = field(default_factory=lambda: defaultdict(Decimal))
    waste_by_category: dict = field(default_factory=lambda: defaultdict(Decimal))
    overkill_by_model: Counter = field(default_factory=Counter)
    sample_reviewed: int = 0
    sample_misrouted: int = 0
    pairs: list = field(default_factory=list)
    confusion: Counter = field(default_factory=Counter)


def failed(d: Decision) -> bool:
    return (
        (d.status == "error" and d.error_type not in INFRASTRUCTURE)
        or d.user_feedback == -1
        or bool(d.retried)
        or bool(d.escalated)
        or (d.judge_score is not None and d.judge_score < 0.5)
    )


def selected(selection: metrics.Selection) -> list[Decision]:
    since = datetime.combine(selection.first, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(selection.last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    rows = Decision.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
    if selection.gateway:
        rows = rows.filter(gateway=selection.gateway)
    if selection.tier:
        rows = rows.filter(served_tier=selection.tier)
    if selection.model:
        rows = rows.filter(served_model=selection.model)
    if selection.category:
        rows = rows.filter(router_category=selection.category)
    return list(rows.select_related("served_tier", "served_model"))


def reference(selection: metrics.Selection, version: str) -> Reference:
    found = Reference()
    decisions = selected(selection)
    by_id = {d.pk: d for d in decisions}
    assessments = {a.decision_id: a for a in Assessment.objects.filter(decision_id__in=by_id)}
    for d in decisions:
        day = d.occurred_at.astimezone(UTC).date()
        found.decisions += 1
        found.cost += d.cost_usd or 0
        found.calls_by_tier[d.served_tier_id] += 1
        found.failures_by_tier[d.served_tier_id] += failed(d)
        found.daily_calls[(day, d.served_tier_id)] += 1
        found.daily_cost[(day, d.served_tier_id)] += d.cost_usd or 0
        if d.latency_ms is not None:
            found.latencies[d.served_tier_id].append(d.latency_ms)
        if d.pk in assessments:
            difficulty = assessments[d.pk].difficulty
            bucket = next(i for i in range(9, -1, -1) if difficulty >= i / 10)
            found.difficulty[d.served_tier_id][bucket] += 1

    first_labels: dict[int, list[Label]] = defaultdict(list)
    for label in Label.objects.filter(decision_id__in=by_id).order_by("created_at", "pk"):
        first_labels[label.decision_id].append(label)
    confirming = {"overkill": "should_be_cheaper", "underpowered": "should_be_stronger"}
    for flag in Flag.objects.filter(decision_id__in=by_id, detector_version=version):
        d = by_id[flag.decision_id]
        week = d.occurred_at.astimezone(UTC).date()
        week -= timedelta(days=week.weekday())
        found.flags[flag.kind] += 1
        found.flag_dollars[flag.kind] += flag.dollars
        found.weekly[week][flag.kind][0] += 1
        given = first_labels.get(d.pk)
        if given and given[0].verdict != "unsure":
            found.reviewed[flag.kind] += 1
            found.weekly[week][flag.kind][1] += 1
            if given[0].verdict == confirming[flag.kind]:
                found.confirmed[flag.kind] += 1
                found.weekly[week][flag.kind][2] += 1
        if flag.kind == "overkill":
            found.waste_by_model[d.served_model.name] += flag.dollars
            found.waste_by_category[d.router_category] += flag.dollars
            found.overkill_by_model[d.served_model.name] += 1

    sampled = set(
        QueueItem.objects.filter(decision_id__in=by_id, source="sample").values_list(
            "decision_id", flat=True
        )
    )
    ranks = {t.pk: t.rank for t in Tier.objects.all()}
    by_rank = {t.rank: t.pk for t in Tier.objects.all()}
    step = {"should_be_cheaper": -1, "should_be_stronger": 1, "correct": 0}
    for decision_id, given in first_labels.items():
        first = given[0]
        if decision_id in sampled and first.verdict != "unsure":
            found.sample_reviewed += 1
            found.sample_misrouted += first.verdict in ("should_be_cheaper", "should_be_stronger")
        if len(given) > 1:
            found.pairs.append((first.verdict, given[1].verdict))
        served = by_id[decision_id].served_tier_id
        right = first.right_tier_id
        if right is None and served is not None and first.verdict in step:
            right = by_rank.get(ranks[served] + step[first.verdict])
        if served is not None and right is not None:
            found.confusion[(served, right)] += 1
    return found


def nearest_rank(values: list[int], percentile: int) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percentile / 100 * len(ordered))) - 1]


def kappa_of(pairs: list[tuple[str, str]]) -> float | None:
    if not pairs:
        return None
    first, second = zip(*pairs, strict=True)
    if len(set(first) | set(second)) == 1:
        return 1.0
    return float(cohen_kappa_score(first, second))


def assert_totals_match(found: metrics.Totals, expected: Reference) -> None:
    assert found.decisions == expected.decisions
    assert same_money(found.cost, expected.cost)
    assert {k: v for k, v in found.calls_by_tier.items() if v} == dict(expected.calls_by_tier)
    assert {k: v for k, v in found.failures_by_tier.items() if v} == {
        k: v for k, v in expected.failures_by_tier.items() if v
    }
    assert {k: v for k, v in found.flags.items() if v} == dict(expected.flags)
    for kind in FlagKind.values:
        assert same_money(found.flag_dollars.get(kind, 0), expected.flag_dollars.get(kind, 0))
        assert found.reviewed.get(kind, 0) == expected.reviewed[kind]
        assert found.confirmed.get(kind, 0) == expected.confirmed[kind]
    assert found.sample_reviewed == expected.sample_reviewed
    assert found.sample_misrouted == expected.sample_misrouted
    assert found.pairs == dict(Counter(expected.pairs))
    expected_kappa = kappa_of(expected.pairs)
    if expected_kappa is None:
        assert found.kappa is None
    else:
        assert found.kappa == pytest.approx(expected_kappa)


def assert_board_matches(selection: metrics.Selection) -> metrics.Board:
    """Every KPI and chart of the dashboard for ``selection`` against the reference."""
    board = metrics.board(selection)
    expected = reference(selection, board.detector_version)
    assert_totals_match(board.current, expected)
    assert_totals_match(board.previous, reference(selection.previous(), board.detector_version))

    # KPIs: the figures shown are the reference's.
    kpis = {kpi.key: kpi for kpi in metrics.kpis(board)}
    assert kpis["decisions"].value == expected.decisions
    assert same_money(kpis["cost"].value or 0, expected.cost)
    if expected.decisions:
        assert same_money(kpis["cost_per_1k"].value or 0, expected.cost * 1000 / expected.decisions)
    assert same_money(kpis["overkill_dollars"].value or 0, expected.flag_dollars["overkill"])
    cheapest = Tier.objects.order_by("rank").first()
    calls = expected.calls_by_tier[cheapest.pk]
    assert kpis["cheap_failure_rate"].value == (
        pytest.approx(expected.failures_by_tier[cheapest.pk] / calls) if calls else None
    )
    for kind in FlagKind.values:
        reviewed = expected.reviewed[kind]
        assert kpis[f"precision_{kind}"].value == (
            pytest.approx(expected.confirmed[kind] / reviewed) if reviewed else None
        )
    assert kpis["miss_rate"].value == (
        pytest.approx(expected.sample_misrouted / expected.sample_reviewed)
        if expected.sample_reviewed
        else None
    )
    for tier_id, n in expected.calls_by_tier.items():
        name = board.tier_name(tier_id)
        assert kpis[f"share_{name}"].value == pytest.approx(n / expected.decisions)

    figures = {chart.key: chart for chart in charts.build(board)}
    days = [day.isoformat() for day in selection.days]
    for key, values in (("cost", expected.daily_cost), ("calls", expected.daily_calls)):
        traces = {trace["name"]: trace for trace in figures[key].figure["data"]}
        assert set(traces) == {board.tier_name(t) for t in expected.calls_by_tier}
        for tier_id in expected.calls_by_tier:
            trace = traces[board.tier_name(tier_id)]
            assert trace["x"] == days
            wanted = [float(values.get((day, tier_id), 0)) for day in selection.days]
            assert trace["y"] == pytest.approx(wanted)

    flag_traces = {trace["name"]: trace for trace in figures["flags"].figure["data"]}
    weeks = sorted(expected.weekly)
    for kind, label in FlagKind.choices:
        bars = flag_traces[f"{label} flags"]
        assert bars["x"] == [week.isoformat() for week in weeks]
        assert bars["y"] == [expected.weekly[week][kind][0] for week in weeks]
        line = flag_traces[f"{label} precision"]
        assert line["y"] == [
            (c / r if r else None) for _, r, c in (expected.weekly[w][kind] for w in weeks)
        ]

    tiers = list(Tier.objects.order_by("rank"))
    heatmap = figures["confusion"].figure["data"][0]
    assert heatmap["z"] == [[expected.confusion[(s.pk, r.pk)] for r in tiers] for s in tiers]

    for trace in figures["difficulty"].figure["data"]:
        tier_id = next(t for t in expected.calls_by_tier if board.tier_name(t) == trace["name"])
        counts = expected.difficulty[tier_id]
        assert trace["y"] == pytest.approx([n / sum(counts) for n in counts])

    for key, waste in (
        ("waste_model", expected.waste_by_model),
        ("waste_category", expected.waste_by_category),
    ):
        bar = figures[key].figure["data"][0]
        top = sorted(waste.items(), key=lambda item: (-item[1], item[0]))[: metrics.TOP]
        shown = list(zip(reversed(bar["y"]), reversed(bar["x"]), strict=True))
        assert [name for name, _ in shown] == [charts.plain(name or "(none)") for name, _ in top]
        for (_, dollars), (_, wanted) in zip(shown, top, strict=True):
            assert dollars == pytest.approx(float(wanted))

    latency = {trace["name"]: trace for trace in figures["latency"].figure["data"]}
    for percentile in metrics.PERCENTILES:
        trace = latency[f"p{percentile}"]
        for name, bound in zip(trace["x"], trace["y"], strict=True):
            tier_id = next(t for t in expected.latencies if board.tier_name(t) == name)
            exact = nearest_rank(expected.latencies[tier_id], percentile)
            found = board.latency_percentile(tier_id, percentile)
            assert found is not None and (found.lower < exact or found.lower == exact == 0)
            assert found.upper is None or exact <= found.upper
            assert bound == (found.upper or found.lower)
    assert set(latency["p50"]["x"]) == {board.tier_name(t) for t in expected.latencies}
    return board


def selections() -> list[metrics.Selection]:
    prod = Gateway.objects.get(name="prod-proxy")
    large = Tier.objects.get(name="large")
    small = Tier.objects.get(name="small")
    return [
        metrics.Selection(first=FIRST, last=LAST),
        # The last five days, so the previous range (the first five) has traffic too.
        metrics.Selection(first=LAST - timedelta(days=4), last=LAST),
        metrics.Selection(first=LAST - timedelta(days=4), last=LAST, gateway=prod),
        metrics.Selection(first=FIRST, last=LAST, tier=large),
        metrics.Selection(first=FIRST, last=LAST, tier=small, category="code"),
        metrics.Selection(
            first=FIRST, last=LAST, model=CatalogModel.objects.get(name="claude-sonnet-4-5")
        ),
        metrics.Selection(first=FIRST, last=LAST, category="greeting", gateway=prod),
        metrics.Selection(first=date(2026, 11, 26), last=date(2026, 11, 26)),
    ]


def assert_everything_matches() -> None:
    for selection in selections():
        assert_board_matches(selection)


# --- The tests ----------------------------------------------------------------------------------


def test_every_kpi_and_chart_matches_the_decisions(traffic):
    board = assert_board_matches(metrics.Selection(first=FIRST, last=LAST))
    # The traffic exercises what is compared: flags, reviews, pairs, samples, all tiers.
    assert board.current.decisions == 260
    assert sum(board.current.flags.values()) > 20
    assert sum(board.current.reviewed.values()) > 10
    assert board.current.sample_reviewed > 10
    assert board.current.paired > 5
    assert None in board.current.calls_by_tier  # the unclassified model
    assert_everything_matches()


def test_processing_notes_the_days_it_touched_and_a_refresh_clears_them(make_decision):
    days = [date(2026, 11, 24), date(2026, 11, 27)]
    made = [
        make_decision(occurred_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC) + gap)
        for day in days
        for gap in (timedelta(hours=1), timedelta(hours=23, minutes=59))
    ]
    pipeline.process_in_chunks([d.pk for d in made])
    assert sorted(set(RollupChange.objects.values_list("day", flat=True))) == days
    assert rollups.refresh_changed() == 2
    assert not RollupChange.objects.exists()
    assert sorted(DailyRollup.objects.values_list("day", "decisions")) == [
        (days[0], 2),
        (days[1], 2),
    ]
    assert rollups.refresh_changed() == 0


def test_changes_in_quick_succession_share_one_refresh(db, settings):
    if is_sqlite():
        pytest.skip("tasks run in-process there: each commit refreshes at once")
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queued = broker.llen("celery")
    rollups.schedule_refresh()
    rollups.schedule_refresh()
    rollups.refresh_changed()
    rollups.schedule_refresh()
    # One refresh per window, sent at once (a plain message, not a countdown a worker would
    # hold); the later changes wait for the beat entry.
    assert broker.llen("celery") == queued + 1
    message = json.loads(broker.lindex("celery", 0))
    assert message["headers"]["eta"] is None
    cache.delete(rollups.REFRESH_SCHEDULED_KEY)  # the window is over
    rollups.schedule_refresh()
    assert broker.llen("celery") == queued + 2


def test_late_outcomes_reach_the_rollups(traffic):
    board = metrics.board(metrics.Selection(first=FIRST, last=LAST))
    succeeded = [d for d in traffic if not failed(d) and d.served_tier_id is not None][:15]
    outcomes = [{"event_id": d.event_id, "user_feedback": -1} for d in succeeded]
    gateway_of = {d.event_id: d.gateway for d in succeeded}
    for gateway in set(gateway_of.values()):
        results = ingestion.record_outcomes(
            gateway=gateway, batch=[o for o in outcomes if gateway_of[o["event_id"]] == gateway]
        )
        assert {r["status"] for r in results} == {"updated"}
    # As the task sent after the outcomes' commit would: process again, then refresh.
    pipeline.process_in_chunks([d.pk for d in succeeded])
    rollups.refresh_changed()
    after = assert_board_matches(metrics.Selection(first=FIRST, last=LAST))
    assert sum(after.current.failures_by_tier.values()) == sum(
        board.current.failures_by_tier.values()
    ) + len(succeeded)
    assert_everything_matches()


def test_re_detection_with_new_thresholds_reaches_the_rollups(traffic):
    before = metrics.board(metrics.Selection(first=FIRST, last=LAST))
    settings = DetectorSettings.current()
    settings.min_confidence = 0.3
    settings.revision += 1
    settings.save()
    call_command("rerun_detection", "--since", FIRST.isoformat(), stdout=StringIO())
    rollups.refresh_changed()
    after = assert_board_matches(metrics.Selection(first=FIRST, last=LAST))
    assert after.detector_version != before.detector_version
    assert sum(after.current.flags.values()) > sum(before.current.flags.values())
    assert_everything_matches()


def test_labels_given_and_changed_reach_the_rollups(traffic, reviewer, rob):
    flagged = Flag.objects.filter(kind=FlagKind.OVERKILL).exclude(decision__labels__isnull=False)
    decision = flagged.first().decision
    labels.record_label(
        decision=decision,
        reviewer=rob,
        verdict="should_be_cheaper",
        right_tier=None,
        note="",
        source=LabelEvent.Source.API,
    )
    rollups.refresh_changed()
    assert_everything_matches()
    labels.record_label(
        decision=decision,
        reviewer=rob,
        verdict="correct",
        right_tier=None,
        note="changed",
        source=LabelEvent.Source.REVIEW,
    )
    rollups.refresh_changed()
    assert_everything_matches()


def test_a_model_classified_later_moves_its_calls_to_the_tier(traffic):
    unclassified = CatalogModel.objects.get(name="acme-internal-13b")
    catalog.classify(model=unclassified, tier=Tier.objects.get(name="medium"))
    rollups.refresh_changed()
    board = assert_board_matches(metrics.Selection(first=FIRST, last=LAST))
    assert None not in board.current.calls_by_tier
    assert_everything_matches()


def test_rebuild_replaces_whatever_the_rollups_held(traffic):
    DailyRollup.objects.update(decisions=0, cost_usd=0)
    DailyGatewayRollup.objects.update(failures=99)
    DailyFlagRollup.objects.all().delete()
    DailyReviewRollup.objects.update(decisions=7)
    out = StringIO()
    call_command(
        "rebuild_rollups", "--since", FIRST.isoformat(), "--until", LAST.isoformat(), stdout=out
    )
    assert "Rebuilt the rollups of 10 days (2026-11-23 to 2026-12-02)" in out.getvalue()
    assert_everything_matches()


def test_rebuild_clears_days_whose_decisions_are_gone(traffic):
    day = date(2026, 11, 26)
    on_day = Decision.objects.filter(
        occurred_at__gte=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
        occurred_at__lt=datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )
    assert on_day.exists()
    on_day.delete()
    rollups.rebuild(first=day, last=day)
    assert not DailyRollup.objects.filter(day=day).exists()
    assert_everything_matches()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "2026-12-02", "--until", "2026-11-23"], "--until"),
        (["--since", "yesterday"], "not an ISO 8601"),
        (["--since", "2026-11-23", "--chunk-days", "0"], "--chunk-days"),
    ],
)
def test_rebuild_rollups_refuses_bad_arguments(db, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("rebuild_rollups", *arguments)


def test_rebuild_rollups_without_decisions_says_so(db):
    out = StringIO()
    call_command("rebuild_rollups", stdout=out)
    assert "No decisions yet" in out.getvalue()


def test_the_dashboard_version_is_the_explorers(traffic):
    from review.detection import Detector

    assert metrics.detector_version() == Detector.current().version


# --- A real worker --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_the_rollups_up_to_date_after_ingestion_and_outcomes(tiers, tmp_path):
    """Gateway posts go through gunicorn; a real Celery worker processes them and refreshes
    the rollups on its own (with the beat, as in production), then again after a late
    thumbs-down."""
    if is_sqlite():
        pytest.skip("needs PostgreSQL and Redis, as production does")
    gateway = Gateway.objects.create(name="prod-proxy")
    key = ApiKey.issue(gateway=gateway, scopes=["ingest"])[1]
    day = date(2026, 11, 30)
    records = [
        {
            "event_id": f"w-{n}",
            "occurred_at": f"2026-11-30T{10 + n % 5:02d}:00:00Z",
            "served_model": "claude-opus-4-5" if n % 2 else "gpt-4o-mini",
            "router_category": "greeting",
            "input_tokens": 40,
            "output_tokens": 20,
            "latency_ms": 400 + n,
            "prompt_text": "hi there, thanks!",
        }
        for n in range(30)
    ]
    # A refresh window of two seconds rather than a minute: the test waits for them. The beat
    # picks up the changes made within a window (as it does in production).
    env = processes.app_env(ROLLUP_REFRESH_SECONDS="2")
    worker = processes.start_worker(env, name="rollups")
    beat = processes.start_beat(env, tmp_path / "beat-schedule")
    server, base = processes.start_gunicorn(env)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        response = httpx.post(f"{base}/api/v1/decisions", json=records, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        selection = metrics.Selection(first=day, last=day)
        wait_for(lambda: metrics.totals(selection).decisions == 30)
        assert_board_matches(selection)

        outcome = [{"event_id": "w-3", "user_feedback": -1}]
        response = httpx.post(f"{base}/api/v1/outcomes", json=outcome, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        wait_for(lambda: sum(metrics.totals(selection).failures_by_tier.values()) == 1)
        assert_board_matches(selection)
    finally:
        processes.stop(server, worker, beat)


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError("the rollups did not catch up within a minute")


# --- SQLite --------------------------------------------------------------------------------------


def test_the_same_tests_pass_on_sqlite(tmp_path):
    """The embedded default: this module's consistency tests and the dashboard's page tests
    again, on SQLite with tasks run in-process."""
    if is_sqlite():
        pytest.skip("this is the SQLite run")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'rollups.sqlite3'}",
        # Set but empty: the tests' defaults leave it alone, and the settings read "no Redis".
        "REDIS_URL": "",
        "DEBUG": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            str(processes.ROOT / "tests" / "test_dashboard.py"),
            "-p",
            "no:cacheprovider",
            "-q",
            "-k",
            "not worker and not sqlite",
        ],
        cwd=processes.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
