"""Ingestion throughput: the API under gunicorn against raw PostgreSQL COPY and a plain DRF
ModelSerializer endpoint, measured in the same run on the same records.

    .venv/bin/python bench/ingest.py                      # 200,000 records, as in the README
    .venv/bin/python bench/ingest.py --records 20000      # a quicker look

It creates (and drops first) its own database, ``routing_review_bench`` by default.
"""

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# Every column of review_decision, for the benchmarks that fill it with INSERT … SELECT.
INSERT_DECISION_COLUMNS = """INSERT INTO review_decision (
    gateway_id, event_id, occurred_at, received_at, served_model_id, served_model_name,
    served_tier_id, requested_model, router_name, router_version, router_score,
    router_threshold, router_category, router_tier, router_cause, candidates, input_tokens,
    output_tokens, cost_usd, cost_source, latency_ms, time_to_first_token_ms, status,
    error_type, error_message, http_status, trace_id, fallback_chain, retries, user_feedback,
    judge_score, retried, escalated, outcome_updated_at, processed_at, processing_attempts,
    processing_failed_at, processing_error, prompt_text, response_excerpt, metadata
)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--baseline-records",
        type=int,
        default=20_000,
        help="records for the (slow) plain DRF baseline",
    )
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="routing_review_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    env, key, database_url = prepare(args.server, args.database, args.redis_url)
    records = make_records(args.records, seed=1)

    print(
        f"Ingestion benchmark: {args.records:,} records, batches of {args.batch}, "
        f"{args.connections} client connections, gunicorn with {args.workers} workers"
    )
    with Server(env, args.workers) as server:
        api = post_all(server.url + "/api/v1/decisions", key, records, args)
        api_memory = server.peak_memory_mb()
    stored = count_rows(database_url)
    assert stored == args.records, f"stored {stored} of {args.records}"

    copy_rate = raw_copy(database_url, records)

    baseline_records = make_records(args.baseline_records, seed=2, for_drf=True)
    truncate(database_url)
    with Server(env, args.workers) as server:
        baseline = post_all(server.url + "/bench/drf-baseline", key, baseline_records, args)

    print(
        f"  API (COPY through a temp table)  {api['rate']:>9,.0f} records/s   "
        f"p50 {api['p50']:.0f} ms  p99 {api['p99']:.0f} ms per batch   "
        f"server peak {api_memory:.0f} MB"
    )
    print(f"  raw COPY, same table            {copy_rate:>9,.0f} records/s")
    print(
        f"  plain DRF ModelSerializer       {baseline['rate']:>9,.0f} records/s   "
        f"p50 {baseline['p50']:.0f} ms  p99 {baseline['p99']:.0f} ms per batch"
    )
    print(f"  API / raw COPY  {api['rate'] / copy_rate:.0%}   (target ≥ 40%)")
    print(f"  API / plain DRF {api['rate'] / baseline['rate']:.1f}×  (target ≥ 10×)")


def prepare(server: str, database: str, redis_url: str) -> tuple[dict[str, str], str, str]:
    """A fresh database with the schema, the catalog and a gateway; Django set up on it in this
    process. Returns the servers' environment, the gateway's key and the database URL."""
    database_url = f"{server}/{database}"
    recreate_database(server, database)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "benchmark-only",
        "ALLOWED_HOSTS": "127.0.0.1",
        "INGEST_RATE": "1000000/minute",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "LOG_LEVEL": "WARNING",
        # WhiteNoise notes that collectstatic has not run; static files play no part here.
        "PYTHONWARNINGS": "ignore:No directory at",
    }
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "load_catalog")
    key = manage(env, "create_gateway", "bench-gateway").strip().splitlines()[-1]
    os.environ.update(env)

    import django

    django.setup()
    return env, key, database_url


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def recreate_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def make_records(count: int, *, seed: int, for_drf: bool = False) -> list[dict]:
    """Realistic decision records: prompts of several lengths, router fields, some errors."""
    from review.demo_prompts import BUSINESS_CONTEXT, CATEGORIES
    from review.models import CatalogModel

    rng = random.Random(seed)
    names = ["gpt-4o-mini", "gpt-5-mini", "claude-sonnet-4-5", "o3"]
    model_ids = dict(CatalogModel.objects.filter(name__in=names).values_list("name", "pk"))
    records = []
    for number in range(count):
        category = rng.choice(CATEGORIES)
        prompt = rng.choice(category.prompts).template
        if rng.random() < 0.4:
            prompt += "\n" + " ".join(
                rng.choice(BUSINESS_CONTEXT) for _ in range(rng.randint(2, 12))
            )
        tier = rng.randrange(4)
        record = {
            "event_id": f"evt-{seed}-{number:08d}",
            "occurred_at": f"2026-11-{rng.randint(23, 29)}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z",
            "served_model": names[tier],
            "requested_model": "assistant-auto",
            "router_name": "complexity-router",
            "router_score": round(rng.random(), 4),
            "router_category": category.name,
            "router_tier": ["small", "medium", "large", "reasoning"][tier],
            "router_cause": "score above the boundary",
            "input_tokens": rng.randint(50, 4000),
            "output_tokens": rng.randint(10, 1500),
            "latency_ms": rng.randint(200, 20000),
            "trace_id": f"trace-{number:08d}",
            "prompt_text": prompt,
            "response_excerpt": rng.choice(category.responses),
            "metadata": {"app": "assistant", "region": rng.choice(["eu", "us"])},
        }
        if rng.random() < 0.03:
            record.update(status="error", error_type="rate_limit", http_status=429)
        if for_drf:
            record["served_model_name"] = record["served_model"]
            record["served_model"] = model_ids[record["served_model"]]
            record["occurred_at"] = record["occurred_at"]
        records.append(record)
    return records


class Server:
    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.env = env
        self.workers = workers
        self.url = ""

    def __enter__(self) -> "Server":
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "routing_app.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "120",
            ],
            cwd=ROOT,
            env=self.env,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit("the server did not start")

    def peak_memory_mb(self) -> float:
        """Peak resident memory of the gunicorn master and its workers, summed."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(pid) for pid in children.read_text().split()]
        total_kb = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        return total_kb / 1024

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def post_all(url: str, key: str, records: list[dict], args: argparse.Namespace) -> dict:
    batches: queue.Queue[bytes | None] = queue.Queue()
    for start in range(0, len(records), args.batch):
        batches.put(json.dumps(records[start : start + args.batch]).encode())
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=300,
        ) as http:
            while True:
                try:
                    body = batches.get_nowait()
                except queue.Empty:
                    return
                began = time.perf_counter()
                response = http.post(url, content=body)
                latencies.append((time.perf_counter() - began) * 1000)
                if response.status_code not in (200, 201):
                    failures.append(f"{response.status_code}: {response.text[:200]}")

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} batches failed, first: {failures[0]}")
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"rate": len(records) / elapsed, "p50": quantiles[49], "p99": quantiles[98]}


def raw_copy(database_url: str, records: list[dict]) -> float:
    """COPY the same records straight into the decisions table, rows prepared beforehand."""
    from review import ingestion
    from review.models import Gateway

    truncate(database_url)
    gateway = Gateway.objects.get(name="bench-gateway")
    candidates = []
    for index, raw in enumerate(records):
        values, errors = ingestion.records.parse_decision(dict(raw))
        assert not errors, errors
        candidates.append((index, values))
    rows = [ingestion._row(d) for d in ingestion._build(gateway=gateway, candidates=candidates)]
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        began = time.perf_counter()
        columns = ingestion._COLUMN_LIST
        with cursor.copy(f"COPY review_decision ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - began
    return len(rows) / elapsed


def truncate(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE review_decision CASCADE")


def count_rows(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM review_decision").fetchone()[0]


if __name__ == "__main__":
    main()
