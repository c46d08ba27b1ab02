"""The embedded default, end to end: nothing set but DEBUG, SQLite in a fresh folder, the same
steps as ``make run``, then the served pages."""

import contextlib
import http.cookiejar
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
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


class _Browser:
    """Just enough of a browser: cookies, no redirects followed, forms posted with CSRF."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(
            NoRedirect, urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = None
        if form is not None:
            token = next(c.value for c in self.cookies if c.name == "csrftoken")
            data = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, data=data)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", "")


@contextlib.contextmanager
def _serving(env: dict[str, str]) -> Iterator["_Browser"]:
    """The embedded app under runserver, answering /healthz; a cookie-keeping client for it."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    browser = _Browser(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if browser.request("/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield browser
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_embedded_default_sets_up_and_serves(embedded_env):
    _manage(embedded_env, "migrate", "--noinput")
    _manage(embedded_env, "load_catalog")
    assert "Generated 300 decisions" in _manage(embedded_env, "demo_week", "--size", "300")
    password = _manage(embedded_env, "ensure_admin").split("password: ")[1].strip()

    database = Path(embedded_env["DATA_DIR"]) / "routing_review.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from review_decision").fetchone() == (300,)

    with _serving(embedded_env) as browser:
        assert browser.request("/healthz") == (200, "ok\n")
        assert browser.request("/") == (302, "/accounts/login/?next=/")
        status, body = browser.request("/accounts/login/")
        assert status == 200 and "Log in" in body
        assert browser.request("/static/css/site.css")[0] == 200
        assert browser.request(
            "/accounts/login/", {"username": "admin", "password": password, "next": "/"}
        ) == (302, "/")
        status, body = browser.request("/")
        assert status == 200
        # The dashboard, from rollups refreshed in-process as the demo week was processed.
        assert "Routing dashboard" in body and '<a class="value plain"' in body
        assert "dashboard-charts" in body and ">300</a>" in body
