import random
import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from review import demo, rollups
from review.demo_prompts import CATEGORIES
from review.models import DailyGatewayRollup, DailyRollup, Decision, DemoTruth

END = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
FIELDS = (
    "gateway__name",
    "event_id",
    "occurred_at",
    "served_model_name",
    "served_tier__name",
    "router_score",
    "router_category",
    "router_cause",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "status",
    "error_type",
    "trace_id",
    "fallback_chain",
    "user_feedback",
    "judge_score",
    "retried",
    "escalated",
    "prompt_text",
    "demo_truth__ideal_tier__name",
    "demo_truth__planted",
)


def _rows() -> list[tuple]:
    return list(Decision.objects.order_by("event_id").values_list(*FIELDS))


@pytest.fixture
def week(tiers):
    demo.generate_week(size=2000, seed=11, end=END)
    return Decision.objects.select_related("served_tier", "demo_truth__ideal_tier")


def test_same_seed_makes_the_same_week(tiers):
    demo.generate_week(size=500, seed=3, end=END)
    first = _rows()
    demo.clear_demo_data()
    assert not Decision.objects.exists()
    demo.generate_week(size=500, seed=3, end=END)
    assert _rows() == first


def test_clearing_the_demo_week_refreshes_the_dashboards_days(tiers):
    demo.generate_week(size=300, seed=3, end=END)
    rollups.refresh_changed()
    assert sum(DailyRollup.objects.values_list("decisions", flat=True)) == 300
    demo.clear_demo_data()
    assert rollups.refresh_changed() >= 7  # the week's days (in UTC) were noted as changed
    assert not DailyRollup.objects.exists() and not DailyGatewayRollup.objects.exists()


def test_another_seed_makes_another_week(tiers):
    demo.generate_week(size=300, seed=3, end=END)
    first = [row[FIELDS.index("prompt_text")] for row in _rows()]
    demo.clear_demo_data()
    demo.generate_week(size=300, seed=4, end=END)
    assert [row[FIELDS.index("prompt_text")] for row in _rows()] != first


@pytest.mark.parametrize("size", [1, 37, 1000])
def test_the_week_has_exactly_the_size_asked(tiers, size):
    summary = demo.generate_week(size=size, seed=5, end=END)
    assert summary.decisions == size
    assert Decision.objects.count() == size
    assert DemoTruth.objects.count() == size


def test_every_decision_falls_in_the_week_before_the_end(week):
    times = week.values_list("occurred_at", flat=True)
    assert min(times) >= END - timedelta(days=7)
    assert max(times) <= END


def test_planted_misroutes_are_recorded_with_their_direction(week, tiers):
    # The router's chosen tier: an unclassified model served on the small tier has no served_tier.
    rank = {name: tier.rank for name, tier in tiers.items()}
    overkill = [d for d in week if d.demo_truth.planted == DemoTruth.Planted.OVERKILL]
    underpowered = [d for d in week if d.demo_truth.planted == DemoTruth.Planted.UNDERPOWERED]
    assert len(overkill) > 40 and len(underpowered) > 20
    assert all(rank[d.router_tier] > d.demo_truth.ideal_tier.rank for d in overkill)
    assert all(rank[d.router_tier] < d.demo_truth.ideal_tier.rank for d in underpowered)


def test_most_decisions_are_routed_right(week):
    classified = [d for d in week if d.served_tier is not None]
    right = sum(d.served_tier_id == d.demo_truth.ideal_tier_id for d in classified)
    assert 0.7 < right / len(classified) < 0.95


def test_underpowered_calls_fail_more_often_than_right_ones(week):
    def failure_rate(rows: list[Decision]) -> float:
        failed = sum(
            (d.status == "error" and not d.failed_for_infrastructure)
            or d.user_feedback == -1
            or (d.judge_score is not None and d.judge_score < 0.5)
            or bool(d.retried)
            or bool(d.escalated)
            for d in rows
        )
        return failed / len(rows)

    underpowered = [d for d in week if d.demo_truth.planted == DemoTruth.Planted.UNDERPOWERED]
    right = [d for d in week if d.served_tier_id == d.demo_truth.ideal_tier_id]
    assert failure_rate(underpowered) > 3 * failure_rate(right)


def test_infrastructure_errors_happen_and_cost_nothing_when_refused(week):
    refused = week.filter(error_type__in=["rate_limit", "timeout"])
    assert refused.exists()
    assert all(d.cost_usd == 0 for d in refused)
    assert week.filter(error_type="provider_error").exists()


def test_fallbacks_share_a_trace_and_name_the_model_that_failed(week, tiers):
    second_attempts = week.exclude(fallback_chain=[])
    assert second_attempts.exists()
    for attempt in second_attempts:
        first = week.get(trace_id=attempt.trace_id, fallback_chain=[])
        assert first.status == "error"
        assert attempt.fallback_chain == [first.served_model_name]
        assert attempt.served_tier.rank == tiers[first.router_tier].rank + 1


def test_costs_are_catalog_prices_times_tokens(week):
    for decision in week.filter(status="success", served_tier__isnull=False)[:200]:
        expected = decision.served_model.cost_of(
            input_tokens=decision.input_tokens, output_tokens=decision.output_tokens
        )
        assert abs(decision.cost_usd - expected) < 1e-8


def test_the_week_has_router_signals_late_feedback_and_an_unclassified_model(week):
    assert week.filter(router_score__isnull=True).count() == 0
    assert week.values("router_category").distinct().count() >= 8
    late = week.filter(outcome_updated_at__isnull=False).first()
    assert late is not None and late.outcome_updated_at > late.occurred_at
    assert week.filter(served_tier__isnull=True, served_model__name="acme-support-13b").exists()
    lengths = sorted(len(d.prompt_text) for d in week)
    assert lengths[0] < 20 and lengths[-1] > 1500


def test_the_command_loads_once_and_replaces_on_request(tiers):
    out = StringIO()
    call_command(
        "demo_week", "--size", "50", "--seed", "1", "--end", "2026-11-30T00:00", stdout=out
    )
    call_command("demo_week", "--size", "80", stdout=out)
    assert Decision.objects.count() == 50
    assert "already loaded (50 decisions)" in out.getvalue()
    call_command("demo_week", "--size", "80", "--replace", stdout=out)
    assert Decision.objects.count() == 80


def test_every_template_fills_its_slots():
    week = demo._Week(random.Random(0), 0, END, [], [], {})
    texts = [
        text
        for category in CATEGORIES
        for text in (
            *(prompt.template for prompt in category.prompts),
            *category.responses,
            *category.context,
        )
    ]
    for text in texts:
        assert not re.search(r"\{[a-z_]+\}", week._fill(text)), text
