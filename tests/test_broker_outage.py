"""Redis stops while a gateway posts: ingestion still answers 200, the decisions wait as pending,
and once Redis is back the sweep has a real worker process them."""

import json
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
import redis
from django.utils import timezone

from review.models import ApiKey, Decision, Gateway

from . import processes
from .test_api import record

ROOT = processes.ROOT


class PrivateRedis:
    """A Redis server of this test's own, so stopping it disturbs nothing else."""

    def __init__(self) -> None:
        self.port = processes.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def stack(transactional_db, tiers):
    broker = PrivateRedis()
    broker.start()
    env = processes.app_env(
        REDIS_URL=f"redis://127.0.0.1:{broker.port}/0",
        SECRET_KEY="broker-outage-test-only",
        ALLOWED_HOSTS="127.0.0.1",
    )
    web, base = processes.start_gunicorn(env)
    worker = processes.start_worker(env)
    yield base, broker, env
    processes.stop(web, worker)
    broker.stop()


def _wait_processed(event_ids: list[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Decision.objects.filter(event_id__in=event_ids, processed_at__isnull=True).exists():
            return
        time.sleep(0.2)
    pytest.fail(f"not processed within {seconds}s")


def test_ingestion_survives_a_broker_outage_and_the_sweep_recovers_the_lost_triggers(stack):
    base, broker, env = stack
    key = ApiKey.issue(gateway=Gateway.objects.create(name="gw"), scopes=["ingest"])[1]
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    before = [record(f"before-{i}") for i in range(20)]
    assert client.post("/api/v1/decisions", content=json.dumps(before)).status_code == 200
    _wait_processed([r["event_id"] for r in before])

    broker.stop()
    during = [record(f"during-{i}") for i in range(20)]
    response = client.post("/api/v1/decisions", content=json.dumps(during))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 20
    lost = Decision.objects.filter(event_id__startswith="during-")
    assert lost.filter(processed_at__isnull=True).count() == 20

    broker.start()
    # The sweep leaves a decision a minute for its own trigger; let that minute pass.
    lost.update(received_at=timezone.now() - timedelta(minutes=2))
    sweep = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); "
            "from review.tasks import sweep_pending_decisions as s; print(s.delay())",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "routing_app.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sweep.returncode == 0, sweep.stderr
    _wait_processed([r["event_id"] for r in during])


def test_two_real_workers_on_the_same_pending_set_never_double_process(
    transactional_db, make_decision
):
    from routing_app import celery_app

    ids = [make_decision(prompt_text=f"question number {i}").pk for i in range(600)]
    celery_app.control.purge()
    env = processes.app_env()
    workers = [processes.start_worker(env, name=f"w{n}") for n in (1, 2)]
    try:
        from review import tasks

        # Every chunk is sent twice, so both workers get the same decisions.
        for _ in range(2):
            for start in range(0, len(ids), 100):
                tasks.process_decisions.delay(ids[start : start + 100])
        deadline = time.monotonic() + 120
        while Decision.objects.filter(processed_at__isnull=True).exists():
            assert time.monotonic() < deadline, "the workers did not finish"
            time.sleep(0.2)
    finally:
        processes.stop(*workers)
    # A second processing would assess a decision after it was marked processed.
    rows = Decision.objects.values_list("processed_at", "assessment__assessed_at")
    assert len(rows) == 600
    assert all(assessed <= processed for processed, assessed in rows)
