import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from review import pipeline, rollups

ROOT = Path(__file__).resolve().parent.parent


def test_home_needs_a_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_reviewer_who_is_not_staff_logs_in_through_the_form(client, reviewer):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    response = client.post(
        reverse("login"), {"username": "rita", "password": "correct horse battery", "next": "/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get(reverse("home")).status_code == 200


def test_a_wrong_password_is_refused_with_a_message(client, reviewer):
    response = client.post(reverse("login"), {"username": "rita", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_home_is_the_dashboard_of_processed_traffic_and_warns_of_unclassified_models(
    client, reviewer, make_decision
):
    made = [
        make_decision(name) for name in ("gpt-4o-mini", "claude-sonnet-4-5", "acme-internal-13b")
    ]
    pipeline.process_in_chunks([d.pk for d in made])
    rollups.refresh_changed()
    client.force_login(reviewer)
    response = client.get(reverse("home") + "?since=2026-11-30&until=2026-11-30")
    body = response.content.decode()
    assert response.status_code == 200
    kpis = {kpi.key: kpi.value for kpi in response.context["kpis"]}
    assert kpis["decisions"] == 3
    assert kpis["share_unclassified"] == pytest.approx(1 / 3)
    assert "acme-internal-13b" in body and "Unclassified models" in body


def test_names_from_gateways_are_escaped_on_the_home_page(client, reviewer, make_decision):
    decision = make_decision(router_category='<script>alert("x")</script>')
    pipeline.process_in_chunks([decision.pk])
    rollups.refresh_changed()
    client.force_login(reviewer)
    body = client.get(reverse("home") + "?since=2026-11-30&until=2026-11-30").content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert" in body


def test_healthz_answers_when_the_database_does(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_healthz_answers_503_when_the_database_is_unreachable(tmp_path):
    # A real unreachable server (nothing listens on port 1), in a process of its own.
    probe = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); print(r.status_code, r.content.decode().strip())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DEBUG": "1",
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "ALLOWED_HOSTS": "testserver",
            "DJANGO_SETTINGS_MODULE": "routing_app.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip().endswith("503 database unavailable"), result.stderr
