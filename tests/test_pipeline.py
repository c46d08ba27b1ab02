from datetime import timedelta

from django.utils import timezone

from review import pipeline
from review.models import Decision

from .test_api import post, record


def test_ingestion_enqueues_processing_after_the_commit(
    gateway_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        post(gateway_client, [record("a"), record("b")])
    stored = sorted(Decision.objects.values_list("pk", flat=True))
    assert [sorted(c.args[0]) for c in callbacks] == [stored]
    assert Decision.objects.filter(processed_at__isnull=True).count() == 2


def test_a_duplicate_post_enqueues_nothing(gateway_client, django_capture_on_commit_callbacks):
    post(gateway_client, [record("a")])
    with django_capture_on_commit_callbacks() as callbacks:
        post(gateway_client, [record("a")])
    assert callbacks == []


def test_processing_marks_decisions_and_gives_late_classified_models_their_tier(
    make_decision, tiers
):
    decision = make_decision("gpt-4.1", served_tier=None)
    assert pipeline.process_decisions(decision_ids=[decision.pk]) == 1
    decision.refresh_from_db()
    assert decision.processed_at is not None
    assert decision.served_tier == tiers["large"]
    assert pipeline.process_decisions(decision_ids=[decision.pk]) == 0  # idempotent


def test_the_sweep_finds_decisions_whose_trigger_was_lost(make_decision):
    lost = make_decision(received_at=timezone.now() - timedelta(minutes=30))
    fresh = make_decision()  # its trigger may still be on its way
    done = make_decision(
        received_at=timezone.now() - timedelta(hours=1), processed_at=timezone.now()
    )
    assert list(pipeline.stale_pending(limit=100)) == [lost.pk]
    assert fresh.pk != done.pk
