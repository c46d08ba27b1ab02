"""Real processes for the tests that are about them: gunicorn, Celery workers, free ports."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url(host: str | None = None, port: int | None = None) -> str:
    """The URL of the database this test runs on, optionally through another host and port."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{host or db['HOST']}:{port or db['PORT']}/{db['NAME']}"


def app_env(**overrides: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": test_database_url(), **overrides}


def start_gunicorn(env: dict[str, str], *, workers: int = 1) -> tuple[subprocess.Popen[str], str]:
    """gunicorn serving the app, answering /healthz; returns the process and its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "routing_app.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("gunicorn did not answer /healthz within 30 s")


def start_worker(
    env: dict[str, str], *, name: str = "worker", queues: list[str] | None = None
) -> subprocess.Popen[str]:
    """A solo-pool worker (the task runs in this process); on every queue unless told."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "routing_app",
            "worker",
            "--pool",
            "solo",
            "-n",
            f"{name}@%h",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            *(["--queues", ",".join(queues)] if queues else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_beat(env: dict[str, str], schedule: Path) -> subprocess.Popen[str]:
    """Celery beat, sending the periodic tasks of settings.CELERY_BEAT_SCHEDULE."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "routing_app",
            "beat",
            "--schedule",
            str(schedule),
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def stop(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
