"""The Celery wiring: the beat schedule, and a real worker on the machine's Redis doing the work."""

import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from review import tasks
from review.models import Decision
from routing_app import celery_app

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
    """A Celery worker process on Redis, using the test database and its own queue."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "routing_app",
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield queue, process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_worker_prices_and_tiers_decisions_sent_through_redis(worker, make_decision, tiers):
    queue, process = worker
    decision = make_decision("gpt-4o", input_tokens=10_000, output_tokens=1_000, served_tier=None)
    tasks.sweep_catalog.apply_async(queue=queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        decision.refresh_from_db()
        if decision.cost_usd is not None:
            break
        time.sleep(0.2)
    if decision.cost_usd is None:
        process.terminate()
        pytest.fail(
            f"the worker did not price the decision; its output:\n{process.communicate()[0]}"
        )
    assert decision.cost_usd == Decimal("0.035")
    assert decision.cost_source == Decision.CostSource.CATALOG
    assert decision.served_tier == tiers["large"]
