"""Export jobs on a real Celery worker (Redis, the test database): progress seen while the file
is written, a cancellation that stops the job mid-file and frees the worker, and a worker on the
export queue alone that never loads scikit-learn."""

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import Popen

import pytest
from django.conf import settings

from review import catalog
from review.exports import jobs
from review.models import Decision, Export
from routing_app import celery_app

from . import processes

DECISIONS = 20_000
CHUNK = 50  # 400 chunks: many progress updates, and many chances to see a cancellation
T0 = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture
def export_dir(settings, tmp_path) -> Path:
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


@pytest.fixture
def worker(transactional_db, export_dir):
    """A worker process on Redis and the test database, writing to the test's export folder."""
    celery_app.control.purge()  # messages left by tests that enqueue without a worker
    env = processes.app_env(
        REDIS_URL=settings.REDIS_URL, EXPORT_DIR=str(export_dir), EXPORT_CHUNK_ROWS=str(CHUNK)
    )
    process = processes.start_worker(env, name="exports")
    yield process
    processes.stop(process)


@pytest.fixture
def export_worker(transactional_db, export_dir):
    """A worker on the export queue only, as docker-compose runs one."""
    celery_app.control.purge()
    env = processes.app_env(REDIS_URL=settings.REDIS_URL, EXPORT_DIR=str(export_dir))
    process = processes.start_worker(env, name="lean", queues=[settings.EXPORT_QUEUE])
    yield process
    processes.stop(process)


@pytest.fixture
def many(transactional_db, tiers, gateway) -> int:
    model = catalog.resolve_model("gpt-4o-mini")
    Decision.objects.bulk_create(
        [
            Decision(
                gateway=gateway,
                event_id=f"evt-{number}",
                occurred_at=T0 - timedelta(seconds=number),
                served_model=model,
                served_model_name=model.name,
                served_tier=model.tier,
                input_tokens=100,
                output_tokens=20,
                prompt_text=f"Where is my order number {number}? It was due last week.",
            )
            for number in range(DECISIONS)
        ],
        batch_size=2000,
    )
    return DECISIONS


def watch(process: Popen[str], export: Export, until: set[str], seconds: float = 120) -> list:
    """Poll the export's row until its status is in ``until``; every (status, done, total)."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = Export.objects.values_list("status", "done", "total").get(pk=export.pk)
        seen.append(row)
        if row[0] in until:
            return seen
        time.sleep(0.01)
    process.terminate()
    pytest.fail(f"the export stayed {seen[-1]}; the worker said:\n{process.communicate()[0]}")


def test_the_worker_writes_an_export_with_progress_along_the_way(worker, many, export_dir):
    made = jobs.create_export(export_format="jsonl", filters={})
    seen = watch(worker, made, {"done", "failed", "cancelled"})
    made.refresh_from_db()
    assert made.status == Export.Status.DONE, made.error
    midway = {done for status, done, total in seen if status == "running" and 0 < done < total}
    assert len(midway) >= 3, seen  # the progress bar moved, chunk by chunk
    assert all(total in (0, DECISIONS) for _, _, total in seen)
    dones = [done for _, done, _ in seen]
    assert dones[-1] == DECISIONS
    assert dones == sorted(dones)  # it only grows
    path = export_dir / made.file_name
    assert made.row_count == DECISIONS == path.read_bytes().count(b"\n")
    assert made.checksum == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_cancelled_export_stops_mid_file_and_frees_the_worker(worker, many, export_dir):
    made = jobs.create_export(export_format="parquet", filters={})
    # Wait for it to be well under way, then cancel.
    seen = []
    deadline = time.monotonic() + 120
    while True:
        status, done, total = Export.objects.values_list("status", "done", "total").get(pk=made.pk)
        seen.append((status, done, total))
        if status == "running" and done >= 20 * CHUNK:
            break
        assert status in ("queued", "running") and time.monotonic() < deadline, seen
        time.sleep(0.005)
    assert done < total, "the export finished before it could be cancelled"
    assert jobs.cancel_export(export=made)
    # The job sees it at its next chunk and removes its partial file.
    deadline = time.monotonic() + 30
    while list(export_dir.glob(f"export-{made.pk}.*")):
        assert time.monotonic() < deadline, list(export_dir.iterdir())
        time.sleep(0.05)
    # The worker is free again: the next export, queued behind, is done.
    after = jobs.create_export(export_format="csv", filters={"status": "error"})
    watch(worker, after, {"done", "failed", "cancelled"})
    after.refresh_from_db()
    assert after.status == Export.Status.DONE and after.row_count == 0
    made.refresh_from_db()
    assert made.status == Export.Status.CANCELLED
    # It stopped: the rows read stayed where the cancellation found them, far short of all.
    assert made.done <= done + 2 * CHUNK < DECISIONS
    assert not made.file_name and not list(export_dir.glob(f"export-{made.pk}.*"))


def test_exports_are_routed_to_their_own_queue_and_the_rest_is_not():
    route = celery_app.amqp.router.route
    assert route({}, "review.tasks.run_export")["queue"].name == settings.EXPORT_QUEUE
    for task in ("review.tasks.process_decisions", "review.tasks.expire_exports"):
        assert route({}, task)["queue"].name == settings.CELERY_TASK_DEFAULT_QUEUE
    # A worker started without --queues consumes every declared queue, so one worker runs all
    # (the worker of test_the_worker_writes_… is one); compose's workers: tests/test_compose.py.
    assert {queue.name for queue in settings.CELERY_TASK_QUEUES} == {"celery", "exports"}


def test_a_worker_on_the_export_queue_runs_exports_without_loading_scikit_learn(
    export_worker, many, export_dir
):
    """What keeps an export worker's memory low: the text-similarity and learning code (and
    with it scikit-learn and SciPy) is never imported by the export path."""
    for export_format in ("jsonl", "parquet", "hf_dataset"):
        made = jobs.create_export(export_format=export_format, filters={}, test_percent=10)
        watch(export_worker, made, {"done", "failed", "cancelled"})
        made.refresh_from_db()
        assert made.status == Export.Status.DONE, made.error
        assert made.row_count == DECISIONS
    maps = Path(f"/proc/{export_worker.pid}/maps").read_text()
    assert "pyarrow" in maps  # the check sees the libraries the worker loaded
    loaded = {name for name in ("sklearn", "scipy") if f"/{name}/" in maps}
    assert not loaded, f"the export worker loaded {loaded}"
