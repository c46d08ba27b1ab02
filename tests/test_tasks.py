"""The Celery wiring: the beat schedule, and a real worker on the machine's Redis doing the work."""

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from review import tasks
from review.models import Decision
from routing_app import celery_app

from . import processes
from .test_api import record

ROOT = Path(__file__).resolve().parent.parent


def test_every_scheduled_task_exists_and_expires():
    celery_app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in celery_app.tasks, name
        # A beat entry that piles up while workers are down must not run many times over.
        assert entry["options"]["expires"] > 0, name


def test_tests_talk_to_a_real_broker_not_eager_mode():
    assert settings.REDIS_URL and settings.REDIS_URL.startswith("redis://")
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)


@pytest.fixture
def worker(transactional_db):
    """A Celery worker process on Redis, using the test database, on an emptied default queue."""
    celery_app.control.purge()  # messages left by tests that enqueue without a worker
    process = processes.start_worker(processes.app_env(REDIS_URL=settings.REDIS_URL))
    yield process
    processes.stop(process)


def test_a_worker_prices_and_tiers_decisions_sent_through_redis(worker, make_decision, tiers):
    decision = make_decision("gpt-4o", input_tokens=10_000, output_tokens=1_000, served_tier=None)
    tasks.sweep_catalog.delay()
    _wait_for(worker, decision, lambda d: d.cost_usd is not None)
    assert decision.cost_usd == Decimal("0.035")
    assert decision.cost_source == Decision.CostSource.CATALOG
    assert decision.served_tier == tiers["large"]


def test_a_lost_trigger_is_resent_by_the_sweep_and_processed_by_the_worker(worker, make_decision):
    lost = make_decision(received_at=timezone.now() - timedelta(minutes=30))
    assert tasks.sweep_pending_decisions.apply().get() == 1  # beat's call, run here
    _wait_for(worker, lost, lambda d: d.processed_at is not None)


def test_ingestion_triggers_processing_on_the_worker_after_commit(worker, tiers, ingest_key):
    client = Client(headers={"Authorization": f"Bearer {ingest_key}"})
    response = client.post(
        "/api/v1/decisions", data=[record("evt-1")], content_type="application/json"
    )
    assert response.json()["accepted"] == 1
    _wait_for(worker, Decision.objects.get(), lambda d: d.processed_at is not None)


def _wait_for(process, decision, done, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        decision.refresh_from_db()
        if done(decision):
            return
        time.sleep(0.2)
    process.terminate()
    pytest.fail(f"the worker did not finish in {seconds}s; its output:\n{process.communicate()[0]}")
