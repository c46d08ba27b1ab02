"""Detection on crafted decisions: each rule, its exclusions, its reasons and dollars."""

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from review import demo, detection, pipeline, similarity
from review.models import Assessment, Decision, DetectorSettings, Flag

HARD = (
    "Analyze the incident reports over the last 12 weeks step by step, find the root cause, "
    "compare the three vendors' contracts clause by clause, then plan a migration in phases "
    "and justify each estimate."
)


def flags_of(decision: Decision) -> dict[str, Flag]:
    return {flag.kind: flag for flag in Flag.objects.filter(decision=decision)}


def test_a_greeting_on_a_large_model_is_overkill_with_reasons_and_dollars(make_decision, tiers):
    decision = make_decision(
        "claude-sonnet-4-5",
        prompt_text="hi",
        router_category="greeting",
        input_tokens=2000,
        output_tokens=1000,
        cost_usd=Decimal("0.021"),
    )
    detection.detect(decision_ids=[decision.pk])
    flag = flags_of(decision)["overkill"]
    assert flag.confidence > 0.9
    # $0.021 logged, against the small tier's cheapest model at list prices.
    small = detection.Detector.current().tiers[0].reference
    expected = Decimal("0.021") - small.cost_of(input_tokens=2000, output_tokens=1000)
    assert flag.dollars == expected.quantize(Decimal("0.00000001"))
    assert flag.reasons[0].startswith("claude-sonnet-4-5 (large) served a 2-token greeting prompt")
    assert "the small tier covers up to 0.25" in flag.reasons[0]
    assert flag.reasons[1] == "no failure signal: it succeeded"
    assert f"${flag.dollars:.4f}" in flag.reasons[2]
    assert flag.detector_version == "heuristic-r1"
    assessment = Assessment.objects.get(decision=decision)
    assert assessment.needed_tier == tiers["small"] and assessment.difficulty < 0.1


@pytest.mark.parametrize(
    "signal",
    [
        {"user_feedback": -1},
        {"judge_score": 0.2},
        {"retried": True},
        {"escalated": True},
        {"status": "error", "error_type": "output_invalid"},
    ],
)
def test_no_overkill_when_anything_says_the_call_failed(make_decision, signal):
    decision = make_decision("claude-sonnet-4-5", prompt_text="hi", **signal)
    detection.detect(decision_ids=[decision.pk])
    assert "overkill" not in flags_of(decision)


def test_the_cheapest_tier_is_never_overkill(make_decision):
    decision = make_decision("gpt-4o-mini", prompt_text="hi")
    detection.detect(decision_ids=[decision.pk])
    assert flags_of(decision) == {}
    assert Assessment.objects.get(decision=decision).overkill_score == 0


def test_a_hard_prompt_that_failed_on_a_cheap_model_is_underpowered(make_decision, tiers):
    decision = make_decision(
        "gpt-4o-mini",
        prompt_text=HARD,
        router_category="analysis",
        status="error",
        error_type="output_invalid",
        error_message="Output failed JSON schema validation",
        cost_usd=Decimal("0.0003"),
    )
    detection.detect(decision_ids=[decision.pk])
    flag = flags_of(decision)["underpowered"]
    assert flag.confidence >= 0.5
    assert flag.reasons[0] == (
        "gpt-4o-mini (small) fell short: it failed with output_invalid "
        "(Output failed JSON schema validation)"
    )
    needed = Assessment.objects.get(decision=decision).needed_tier
    retry = detection.Detector.current().tiers[needed.rank].reference
    expected = Decimal("0.0003") + retry.cost_of(input_tokens=1000, output_tokens=200)
    assert flag.dollars == expected.quantize(Decimal("0.00000001"))


@pytest.mark.parametrize("infrastructure", ["rate_limit", "timeout", "provider_error"])
def test_infrastructure_failures_are_not_misroutes(make_decision, infrastructure):
    decision = make_decision(
        "gpt-4o-mini", prompt_text=HARD, status="error", error_type=infrastructure
    )
    detection.detect(decision_ids=[decision.pk])
    assert flags_of(decision) == {}
    assessment = Assessment.objects.get(decision=decision)
    assert (assessment.overkill_score, assessment.underpowered_score) == (0, 0)


def test_an_easy_prompt_that_failed_is_not_underpowered(make_decision):
    decision = make_decision("gpt-4o-mini", prompt_text="thanks!", user_feedback=-1)
    detection.detect(decision_ids=[decision.pk])
    assert "underpowered" not in flags_of(decision)


def test_a_fallback_to_a_stronger_model_is_named_as_evidence(make_decision):
    failed = make_decision("gpt-4o-mini", prompt_text=HARD, trace_id="t-1", user_feedback=-1)
    make_decision(
        "claude-sonnet-4-5", prompt_text=HARD, trace_id="t-1", fallback_chain=["gpt-4o-mini"]
    )
    detection.detect(decision_ids=[failed.pk])
    reasons = flags_of(failed)["underpowered"].reasons[0]
    assert "the gateway fell back to claude-sonnet-4-5 (large)" in reasons
    assert "the user gave a thumbs-down" in reasons


def test_unclassified_models_are_assessed_but_not_flagged(make_decision):
    decision = make_decision("acme-internal-13b", prompt_text=HARD, user_feedback=-1)
    detection.detect(decision_ids=[decision.pk])
    assert Assessment.objects.filter(decision=decision).exists()
    assert flags_of(decision) == {}


def test_rerunning_is_idempotent_and_follows_late_outcomes(make_decision):
    decision = make_decision("claude-sonnet-4-5", prompt_text="hi")
    detection.detect(decision_ids=[decision.pk])
    detection.detect(decision_ids=[decision.pk])
    assert Flag.objects.count() == 1 and Assessment.objects.count() == 1
    Decision.objects.filter(pk=decision.pk).update(user_feedback=-1)
    detection.detect(decision_ids=[decision.pk])
    assert Flag.objects.count() == 0  # the thumbs-down undid the overkill


def test_new_thresholds_make_a_new_detector_version(make_decision):
    decision = make_decision("claude-sonnet-4-5", prompt_text="hi")
    detection.detect(decision_ids=[decision.pk])
    settings = DetectorSettings.current()
    settings.revision += 1
    settings.save()
    detection.detect(decision_ids=[decision.pk])
    assert sorted(Flag.objects.values_list("detector_version", flat=True)) == [
        "heuristic-r1",
        "heuristic-r2",
    ]


def test_a_processed_decision_is_not_processed_again(make_decision):
    decision = make_decision()
    assert pipeline.process_decisions(decision_ids=[decision.pk]) == 1
    assert pipeline.process_decisions(decision_ids=[decision.pk]) == 0


def test_decisions_another_worker_holds_are_skipped_not_waited_for(transactional_db, make_decision):
    held, free = make_decision(), make_decision()
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        with transaction.atomic():
            list(Decision.objects.filter(pk=held.pk).select_for_update())
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    locked.wait(10)
    try:
        assert pipeline.process_decisions(decision_ids=[held.pk, free.pk]) == 1
    finally:
        release.set()
        thread.join()
    held.refresh_from_db()
    assert held.processed_at is None


def test_a_decision_that_keeps_failing_is_marked_failed_and_not_swept(make_decision):
    decision = make_decision(received_at=datetime(2026, 1, 1, tzinfo=UTC))
    limit = DetectorSettings.current().max_processing_attempts
    for attempt in range(1, limit + 1):
        assert list(pipeline.stale_pending(limit=10)) == [decision.pk]
        pipeline._record_failure([decision.pk], ValueError("bad data"))
        decision.refresh_from_db()
        assert decision.processing_attempts == attempt
    assert decision.processing_failed_at is not None
    assert decision.processing_error == "ValueError: bad data"
    assert list(pipeline.stale_pending(limit=10)) == []
    assert pipeline.process_decisions(decision_ids=[decision.pk]) == 0


def test_detect_pending_and_export_flags(make_decision):
    overkill = make_decision("claude-sonnet-4-5", prompt_text="hi", event_id="big-hi")
    plain = make_decision("gpt-4o-mini", prompt_text="hi", event_id="small-hi")
    out = StringIO()
    call_command("detect_pending", stdout=out)
    assert out.getvalue().strip() == "Processed 2 of 2 pending decisions."
    assert not Decision.objects.filter(processed_at__isnull=True).exists()
    out = StringIO()
    call_command("export_flags", stdout=out)
    (line,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert line["event_id"] == "big-hi" and line["kind"] == "overkill"
    assert set(line) == {"event_id", "kind", "confidence", "dollars", "detector_version", "reasons"}
    out = StringIO()
    call_command("export_flags", "--all", stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 4
    flagged = {(r["event_id"], r["kind"]): r["flagged"] for r in rows}
    assert flagged[("big-hi", "overkill")] is True
    assert flagged[("small-hi", "overkill")] is False
    assert overkill.pk != plain.pk


def test_on_the_demo_week_detection_beats_both_baselines_at_equal_recall(tiers):
    demo.generate_week(size=4000, seed=3, end=datetime(2026, 11, 30, tzinfo=UTC))
    out = StringIO()
    call_command("evaluate_detection", "--json", stdout=out)
    reports = json.loads(out.getvalue())
    assert [r["kind"] for r in reports] == ["overkill", "underpowered"]
    for report in reports:
        ours = report["detector"]
        assert ours["recall"] > 0.2
        names = [b["name"] for b in report["baselines"]]
        assert names == ["prompt length", "litellm complexity router"]
        for baseline in report["baselines"]:
            assert ours["precision"] > baseline["precision_at_detector_recall"], (report, baseline)


def test_two_processes_handed_the_same_decisions_never_both_process_one(
    transactional_db, make_decision
):
    ids = [make_decision(prompt_text=f"question {i}").pk for i in range(400)]
    processed: list[int] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        for start in range(0, len(ids), 50):
            processed.append(pipeline.process_decisions(decision_ids=ids[start : start + 50]))
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(processed) == 400
    assert Decision.objects.filter(processed_at__isnull=False).count() == 400
    assert Assessment.objects.count() == 400


def test_rerun_detection_rescores_a_range_with_the_current_version(make_decision):
    decision = make_decision("claude-sonnet-4-5", prompt_text="hi")
    detection.detect(decision_ids=[decision.pk])
    settings = DetectorSettings.current()
    settings.revision += 1
    settings.save()
    out = StringIO()
    call_command("rerun_detection", "--since", "2026-11-01", "--until", "2026-12-01", stdout=out)
    assert out.getvalue().strip() == "Re-scored 1 decisions with heuristic-r2: 1 flags."
    assert Assessment.objects.get().detector_version == "heuristic-r2"
    assert Flag.objects.count() == 2


def test_similar_recent_prompts_are_found_and_named_in_the_reasons(make_decision):
    for i in range(4):
        make_decision("gpt-4o-mini", prompt_text=f"hello there, good morning team {i}")
    make_decision("gpt-4o-mini", prompt_text="Write a SQL query for revenue per month")
    decision = make_decision("claude-sonnet-4-5", prompt_text="hello there, good morning team")
    found = similarity.similar_for(
        {decision.pk: decision.prompt_text}, gateway_ids={decision.gateway_id}
    )
    neighbours = found[decision.pk]
    assert len(neighbours) == 4
    assert all(
        "hello there" in Decision.objects.get(pk=n.decision_id).prompt_text for n in neighbours
    )
    assert neighbours[0].similarity >= neighbours[-1].similarity > 0.3
    detection.detect(decision_ids=[decision.pk])
    reasons = flags_of(decision)["overkill"].reasons
    assert (
        "4 of the 4 most similar recent prompts were served by a cheaper tier without a failure"
        in reasons
    )


@pytest.mark.parametrize(
    "infrastructure", ["rate_limit", "timeout", "provider_error", "configuration"]
)
def test_an_infrastructure_failure_that_fell_back_is_still_no_misroute(
    make_decision, infrastructure
):
    failed = make_decision(
        "gpt-4o-mini", prompt_text=HARD, trace_id="t-9", status="error", error_type=infrastructure
    )
    make_decision(
        "claude-sonnet-4-5", prompt_text=HARD, trace_id="t-9", fallback_chain=["gpt-4o-mini"]
    )
    detection.detect(decision_ids=[failed.pk])
    assert flags_of(failed) == {}


def test_a_rerun_keeps_a_flags_creation_time(make_decision):
    decision = make_decision("claude-sonnet-4-5", prompt_text="hi")
    detection.detect(decision_ids=[decision.pk])
    first = Flag.objects.get()
    detection.detect(decision_ids=[decision.pk])
    again = Flag.objects.get()
    assert (again.pk, again.created_at) == (first.pk, first.created_at)


def test_a_call_that_cost_nothing_is_not_flagged_overkill(make_decision):
    cached = make_decision("claude-sonnet-4-5", prompt_text="hi", cost_usd=Decimal(0))
    detection.detect(decision_ids=[cached.pk])
    assert flags_of(cached) == {}
    assert Assessment.objects.get(decision=cached).overkill_score > 0.9  # still ranked
