"""The embedded default, end to end: nothing set but DEBUG, SQLite in a fresh folder, the same
steps as ``make run``, then the served pages."""

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_VARIABLES}
    env.update(DEBUG="1", DATA_DIR=str(tmp_path_factory.mktemp("data")))
    return env


def _manage(env, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


def test_the_embedded_default_sets_up_and_serves(embedded_env):
    _manage(embedded_env, "migrate", "--noinput")
    _manage(embedded_env, "load_catalog")
    assert "Generated 300 decisions" in _manage(embedded_env, "demo_week", "--size", "300")
    assert "password: " in _manage(embedded_env, "ensure_admin")

    database = Path(embedded_env["DATA_DIR"]) / "routing_review.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from review_decision").fetchone() == (300,)

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=embedded_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert _get(f"{base}/healthz") == (200, "ok\n")
        status, location = _get(f"{base}/")
        assert status == 302 and location.startswith("/admin/login/")
        status, body = _get(f"{base}/admin/login/")
        assert (status == 200 and "Routing review" in body) or "Django" in body
        assert _get(f"{base}/static/css/site.css")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
