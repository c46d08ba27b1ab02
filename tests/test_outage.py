"""The database stops in the middle of a gateway's run: the API answers 503 with Retry-After,
and everything it acknowledged is stored."""

import json
import time

import httpx
import pytest
from django.conf import settings
from django.db import connection

from review.models import ApiKey, Decision, Gateway

from . import processes
from .tcp_proxy import TcpProxy
from .test_api import record


@pytest.fixture
def app_behind_a_cuttable_database(transactional_db, tiers):
    db = connection.settings_dict
    proxy = TcpProxy((db["HOST"], int(db["PORT"])))
    proxy.start()
    env = processes.app_env(
        DATABASE_URL=processes.test_database_url("127.0.0.1", proxy.port),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY="outage-test-only",
        ALLOWED_HOSTS="127.0.0.1",
    )
    server, base = processes.start_gunicorn(env, workers=2)
    yield base, proxy
    processes.stop(server)
    proxy.stop()


def test_a_database_outage_answers_503_and_loses_nothing_acknowledged(
    app_behind_a_cuttable_database,
):
    base, proxy = app_behind_a_cuttable_database
    key = ApiKey.issue(gateway=Gateway.objects.create(name="gw"), scopes=["ingest"])[1]
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    acknowledged: set[str] = set()
    outage_answers = []
    for number in range(30):
        batch = [record(f"b{number}-r{i}") for i in range(50)]
        if number == 10:
            proxy.stop()
        if number == 14:
            proxy.start()
        while True:  # a gateway retries what was not acknowledged
            response = client.post("/api/v1/decisions", content=json.dumps(batch))
            if response.status_code == 200:
                body = response.json()
                assert body["accepted"] + body["duplicate"] == 50
                acknowledged.update(r["event_id"] for r in body["results"])
                break
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "5"
            assert response.json()["error"]["code"] == "database_unavailable"
            outage_answers.append(number)
            if number in range(10, 14):
                break  # still down: the gateway moves on and will resend later
            time.sleep(0.2)
        if number == 13:
            assert set(outage_answers) >= {10, 11, 12, 13}
    # Resend what the outage refused, as the gateway's retry queue would.
    for number in sorted(set(outage_answers)):
        batch = [record(f"b{number}-r{i}") for i in range(50)]
        response = client.post("/api/v1/decisions", content=json.dumps(batch))
        assert response.status_code == 200
        acknowledged.update(r["event_id"] for r in response.json()["results"])
    stored = set(Decision.objects.values_list("event_id", flat=True))
    assert acknowledged == stored
    assert len(stored) == 30 * 50
