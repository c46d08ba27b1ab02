import os
import subprocess
import sys
from pathlib import Path

from django.urls import reverse

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


def test_home_shows_the_week_per_tier_and_warns_of_unclassified_models(
    client, reviewer, make_decision
):
    make_decision("gpt-4o-mini")
    make_decision("claude-sonnet-4-5")
    make_decision("acme-internal-13b")
    client.force_login(reviewer)
    response = client.get(reverse("home"))
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["total_calls"] == 3
    assert response.context["unclassified_calls"] == 1
    assert "acme-internal-13b" in body and "Unclassified models" in body


def test_prompts_are_escaped_on_the_page(client, reviewer, make_decision):
    make_decision(prompt_text='<script>alert("x")</script><img src=x onerror=alert(1)>')
    client.force_login(reviewer)
    body = client.get(reverse("home")).content.decode()
    assert "<script>alert" not in body
    assert "<img src=x" not in body
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
