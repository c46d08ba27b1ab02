"""Detection throughput: decisions scored per second by one worker process on a large table,
and the time from ingestion to flags with one real Celery worker.

    .venv/bin/python bench/detect.py                    # 200,000 decisions, as in the README
    .venv/bin/python bench/detect.py --decisions 20000  # a quicker look

It creates (and drops first) its own database, ``routing_review_bench`` by default.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import Server, make_records, prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument(
        "--scored",
        type=int,
        default=20_000,
        help="how many of them one process scores for the rate",
    )
    parser.add_argument("--batches", type=int, default=10, help="batches for the end-to-end time")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="routing_review_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    env, key, _ = prepare(args.server, args.database, args.redis_url)
    from django.db import connection

    from review import detection, pipeline
    from review.models import Decision, Flag

    print(f"Detection benchmark: {args.decisions:,} decisions in the table")
    fill_table(make_records(args.decisions, seed=3))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE review_decision")  # as autovacuum would after a bulk load
    ids = list(Decision.objects.order_by("pk").values_list("pk", flat=True)[: args.scored])
    detector = detection.Detector.current()
    rows = list(Decision.objects.filter(pk__in=ids).values(*detection.COLUMNS))
    began = time.perf_counter()
    for row in rows:
        detection.assess(row, detector, None)
    elapsed = time.perf_counter() - began
    print(
        f"  one process: {len(rows) / elapsed:,.0f} decisions/s through feature scoring and "
        f"rules (rows in memory)"
    )
    began = time.perf_counter()
    pipeline.process_in_chunks(ids)
    elapsed = time.perf_counter() - began
    print(
        f"  one process: {len(ids) / elapsed:,.0f} decisions/s processed end to end (locked, "
        f"linked, scored, flagged, stored) "
        f"({len(ids):,} decisions, chunks of {pipeline.CHUNK}); "
        f"{Flag.objects.count():,} flags"
    )

    from routing_app import celery_app

    celery_app.control.purge()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "routing_app",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        with Server(env, 2) as server:
            latencies = []
            batches = make_records(500 * args.batches, seed=4)
            for number in range(args.batches):
                batch = [
                    {**r, "event_id": f"e2e-{r['event_id']}"}
                    for r in batches[number * 500 : (number + 1) * 500]
                ]
                began = time.perf_counter()
                response = httpx.post(
                    server.url + "/api/v1/decisions",
                    content=json.dumps(batch),
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                    timeout=60,
                )
                response.raise_for_status()
                event_ids = [r["event_id"] for r in batch]
                while Decision.objects.filter(
                    event_id__in=event_ids, processed_at__isnull=True
                ).exists():
                    time.sleep(0.02)
                latencies.append(time.perf_counter() - began)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    latencies.sort()
    print(
        f"  ingestion to flags, one worker: batches of 500 done in "
        f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms ({args.batches} batches)"
    )


def fill_table(records: list[dict]) -> None:
    """Load the records straight into the table with COPY: pending, as ingestion leaves them."""
    from django.db import connection

    from review import ingestion
    from review import records as checks
    from review.models import Gateway

    gateway = Gateway.objects.get(name="bench-gateway")
    for start in range(0, len(records), 20_000):
        candidates = []
        for index, raw in enumerate(records[start : start + 20_000]):
            values, errors = checks.parse_decision(dict(raw))
            assert not errors, errors
            candidates.append((index, values))
        rows = ingestion._build(gateway=gateway, candidates=candidates)
        with connection.cursor() as cursor:
            columns = ingestion._COLUMN_LIST
            with cursor.cursor.copy(f"COPY review_decision ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(ingestion._row(row))


if __name__ == "__main__":
    main()
