"""Export throughput and the worker's memory: labelled decisions in PostgreSQL exported as JSON
lines and Parquet by a real Celery worker; rows/s and the worker's peak resident memory, for a
fifth of the rows and for all of them, to show that memory does not grow with the row count.

    .venv/bin/python bench/export.py                       # 1,000,000 decisions, as in the issue
    .venv/bin/python bench/export.py --decisions 100000    # a quicker look

It creates (and drops first) its own database, ``routing_review_bench_export`` by default.
Each export runs on a fresh worker process on the export queue, as docker-compose's export
worker (``--pool solo``: the task runs in the process measured); its peak is that process's
high-water mark (VmHWM in /proc), so one run cannot inflate another. The idle worker's resident
memory is shown beside it: the export's own share is the difference.
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import INSERT_DECISION_COLUMNS, prepare  # noqa: E402

TARGET_MB = 300
FORMATS = ("jsonl", "parquet")
PROMPT_POOL = 2_000
MODEL_SLOTS = 12
DAYS = 90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument(
        "--smaller", type=float, default=0.2, help="share of the rows in the smaller export"
    )
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="routing_review_bench_export")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument(
        "--worker-python",
        default=sys.executable,
        help="the interpreter the worker runs under, e.g. that of a production install "
        "(pip install .) rather than this development one, whose test tools add imports",
    )
    args = parser.parse_args()

    export_dir = Path(tempfile.mkdtemp(prefix="routing-review-export-bench-"))
    os.environ["EXPORT_DIR"] = str(export_dir)
    env, _, _ = prepare(args.server, args.database, args.redis_url)
    from django.utils import timezone

    now = timezone.now()
    began = time.perf_counter()
    counts = fill(args.decisions, now=now, seed=8)
    print(
        f"Export benchmark: {counts['decisions']:,} labelled decisions ({counts['labels']:,} "
        f"labels, {counts['flags']:,} flags, {counts['assessments']:,} assessments), "
        f"loaded in {time.perf_counter() - began:.0f} s"
    )
    from django.conf import settings

    print(
        f"  one Celery worker (--queues exports --pool solo) per export, chunks of "
        f"{settings.EXPORT_CHUNK_ROWS:,} decisions; peak RSS is the worker's VmHWM; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    sizes = [round(args.decisions * args.smaller), args.decisions]
    start = now - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / args.decisions
    print(
        f"  {'format':<8} {'decisions':>10} {'seconds':>8} {'rows/s':>9} {'file MB':>8} "
        f"{'worker peak MB':>15} {'idle MB':>8} {'export MB':>10}"
    )
    results: dict[tuple[str, int], dict[str, float]] = {}
    for export_format in FORMATS:
        for size in sizes:
            # The newest ``size`` decisions: the explorer's default order, a time filter.
            since = start + step * (args.decisions - size)
            result = run(env, export_format, since, expected=size, worker_python=args.worker_python)
            results[(export_format, size)] = result
            print(
                f"  {export_format:<8} {size:>10,} {result['seconds']:>8.1f} "
                f"{size / result['seconds']:>9,.0f} {result['file_mb']:>8.1f} "
                f"{result['peak_mb']:>15.0f} {result['idle_mb']:>8.0f} "
                f"{result['peak_mb'] - result['idle_mb']:>+10.0f}"
            )
    highest = max(result["peak_mb"] for result in results.values())
    idle = max(result["idle_mb"] for result in results.values())
    verdict = "met" if highest < TARGET_MB else "MISSED"
    more = (sizes[1] - sizes[0]) / 1e6  # millions of rows added between the two sizes
    for export_format in FORMATS:
        small, large = (results[(export_format, size)]["peak_mb"] for size in sizes)
        per_million = (large - small) / more
        # Under 5 MB per million rows is the allocator's noise, not growth with the rows.
        if per_million < 5:
            shape = "flat: memory does not grow with the row count"
        else:
            reach = sizes[1] + (TARGET_MB - large) / per_million * 1e6
            shape = (
                f"{per_million:.0f} MB per million rows; at that rate one file stays under "
                f"{TARGET_MB} MB up to about {reach / 1e6:.0f} million rows"
            )
        print(
            f"  {export_format} worker peak from {sizes[0]:,} to {sizes[1]:,} decisions: "
            f"{round(large - small):+d} MB ({shape})"
        )
    print(
        f"  highest worker peak {highest:.0f} MB against the {TARGET_MB} MB target: {verdict}; "
        f"the idle worker alone holds {idle:.0f} MB (the app's imports)"
    )


def run(
    env: dict[str, str],
    export_format: str,
    since: datetime,
    *,
    expected: int,
    worker_python: str = sys.executable,
) -> dict:
    """One export on a fresh worker: its time (from the job's own start and finish), file
    size, and the worker's idle and peak resident memory."""
    from django.conf import settings

    from review.exports import jobs
    from review.models import Export
    from routing_app import celery_app

    celery_app.control.purge()
    name = f"exportbench{time.monotonic_ns()}"
    with tempfile.TemporaryFile(mode="w+") as log:
        worker = subprocess.Popen(
            [
                *(worker_python, "-m", "celery", "-A", "routing_app", "worker"),
                *("--pool", "solo", "-n", f"{name}@%h", "--loglevel", "WARNING"),
                *("--queues", settings.EXPORT_QUEUE),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(f"{name}@{socket.gethostname()}")
            idle_mb = memory_mb(worker.pid, "VmRSS")
            export = jobs.create_export(
                export_format=export_format,
                filters={"since": since.strftime("%Y-%m-%dT%H:%M:%S.%f")},
            )
            while export.status in (Export.Status.QUEUED, Export.Status.RUNNING):
                if worker.poll() is not None:
                    break
                time.sleep(0.2)
                export.refresh_from_db()
            peak_mb = memory_mb(worker.pid, "VmHWM") if worker.poll() is None else 0.0
        finally:
            worker.terminate()
            worker.wait(timeout=60)
        if export.status != Export.Status.DONE:
            log.seek(0)
            raise SystemExit(f"export {export.pk} {export.status}: {export.error}\n{log.read()}")
    assert export.row_count == expected, f"{export.row_count} rows, expected {expected}"
    path = jobs.export_dir() / export.file_name
    file_mb = path.stat().st_size / 2**20
    path.unlink()
    assert export.started_at and export.finished_at
    return {
        "seconds": (export.finished_at - export.started_at).total_seconds(),
        "file_mb": file_mb,
        "idle_mb": idle_mb,
        "peak_mb": peak_mb,
    }


def wait_until_ready(node: str, seconds: float = 60) -> None:
    from routing_app import celery_app

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if celery_app.control.ping(destination=[node], timeout=0.5):
            return
    raise SystemExit(f"the worker {node} did not answer a ping within {seconds:.0f} s")


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} for process {pid}")


def fill(count: int, *, now: datetime, seed: int) -> dict[str, int]:
    """Decisions (every one assessed and labelled, a tenth twice, one in twelve flagged) built
    in the database by INSERT … SELECT over generate_series, prompts drawn from a pool made of
    the demo week's material with a number that makes each one unique."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from review.detection import Detector
    from review.models import CatalogModel, Gateway, Tier

    rng = random.Random(seed)
    gateway = Gateway.objects.get(name="bench-gateway")
    users = get_user_model()
    first, second = (users.objects.create_user(name).pk for name in ("ana", "ben"))
    tiers = list(Tier.objects.order_by("rank"))
    models = [m for m in CatalogModel.objects.select_related("tier") if m.tier and m.is_priced]
    version = Detector.current().version

    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute(
            "CREATE TEMP TABLE bench_prompt (id int PRIMARY KEY, category text, text text, "
            "response text) ON COMMIT DROP"
        )
        with raw.copy("COPY bench_prompt FROM STDIN") as copy:
            for number, row in enumerate(prompt_pool(rng, PROMPT_POOL)):
                copy.write_row((number, *row))
        raw.execute(
            "CREATE TEMP TABLE bench_model (slot int PRIMARY KEY, id bigint, name text, "
            "tier_id bigint, tier_name text, input_price numeric, output_price numeric) "
            "ON COMMIT DROP"
        )
        with raw.copy("COPY bench_model FROM STDIN") as copy:
            for slot in range(MODEL_SLOTS):
                model = models[slot % len(models)]
                assert model.tier is not None
                copy.write_row(
                    (
                        slot,
                        model.pk,
                        model.name,
                        model.tier.pk,
                        model.tier.name,
                        model.input_price_per_mtok,
                        model.output_price_per_mtok,
                    )
                )
        # Built once over the loaded table instead of row by row; the trigram index on prompts
        # serves text search only, which no export here uses, so it is not rebuilt.
        raw.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'review_decision' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'review_decision'::regclass)"
        )
        indexes = raw.fetchall()
        for index_name, _ in indexes:
            raw.execute(f'DROP INDEX "{index_name}"')
        raw.execute(
            INSERT_DECISIONS,
            {
                "gateway": gateway.pk,
                "count": count,
                "start": now - timedelta(days=DAYS),
                "step": timedelta(days=DAYS) / count,
                "now": now,
                "prompts": PROMPT_POOL,
                "slots": MODEL_SLOTS,
            },
        )
    # After the commit: the deferred foreign key checks of the rows must have run first.
    with connection.cursor() as cursor:
        for _, definition in indexes:
            if "gin_trgm_ops" not in definition:
                cursor.execute(definition)
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute(
            INSERT_LABELS,
            {
                "reviewer": first,
                "cheapest": tiers[0].pk,
                "strongest": tiers[-1].pk,
                "now": now,
                "every": 1,
            },
        )
        raw.execute(
            INSERT_LABELS,
            {
                "reviewer": second,
                "cheapest": tiers[0].pk,
                "strongest": tiers[-1].pk,
                "now": now,
                "every": 10,
            },
        )
        raw.execute(INSERT_ASSESSMENTS, {"version": version, "now": now})
        raw.execute(INSERT_FLAGS, {"version": version, "now": now})
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in ("decision", "label", "flag", "assessment"):
            cursor.execute(f"VACUUM ANALYZE review_{table}")
            cursor.execute(f"SELECT count(*) FROM review_{table}")
            found[f"{table}s"] = cursor.fetchone()[0]
    return found


def prompt_pool(rng: random.Random, size: int) -> list[tuple[str, str, str]]:
    """(category, prompt, response) from the demo week's templates, a fifth with pasted
    context, so prompt lengths vary as in real traffic."""
    from review.demo_prompts import BUSINESS_CONTEXT, CATEGORIES, SLOTS

    class Slots(dict):
        def __missing__(self, key: str) -> str:
            return rng.choice(SLOTS[key])

    pool = []
    for _ in range(size):
        category = rng.choice(CATEGORIES)
        text = rng.choice(category.prompts).template.format_map(Slots())
        context = category.context or BUSINESS_CONTEXT
        if rng.random() < 0.2:
            pasted = rng.sample(context, min(len(context), rng.randint(1, 6)))
            text += "\n" + " ".join(pasted).format_map(Slots())
        response = rng.choice(category.responses).format_map(Slots())
        pool.append((category.name, text, response))
    return pool


# One decision per number, oldest first. mod() rather than %: the statement has parameters.
INSERT_DECISIONS = (
    INSERT_DECISION_COLUMNS
    + """
SELECT
    %(gateway)s, 'bench-' || n, %(start)s + n * %(step)s, %(now)s, m.id, m.name,
    m.tier_id, '', 'bench-router', 'v1', mod(n, 1000) / 1000.0,
    0.5, p.category, m.tier_name, 'score above the tier boundary', '[]', 200 + mod(n, 3000),
    40 + mod(n, 500),
    round(((200 + mod(n, 3000)) * m.input_price + (40 + mod(n, 500)) * m.output_price)
          / 1000000, 8),
    'catalog', 300 + mod(n, 4000), NULL,
    CASE WHEN mod(n, 50) = 0 THEN 'error' ELSE 'success' END,
    CASE WHEN mod(n, 50) = 0 THEN 'timeout' ELSE '' END, '', NULL, '', '[]', 0,
    CASE WHEN mod(n, 17) = 0 THEN -1 END,
    CASE WHEN mod(n, 5) = 0 THEN mod(n, 100) / 100.0 END,
    NULL, NULL, NULL, %(now)s, 1, NULL, '',
    p.text || ' (ref ' || n || ')', p.response, '{}'
FROM generate_series(0, %(count)s - 1) AS n
JOIN bench_prompt p ON p.id = mod(n, %(prompts)s)
JOIN bench_model m ON m.slot = mod(n, %(slots)s)
"""
)

# Every decision gets the first reviewer's label; every tenth also the second's (the same
# verdict, except every twentieth: a split).
INSERT_LABELS = """
INSERT INTO review_label (decision_id, reviewer_id, verdict, right_tier_id, note, created_at,
                          updated_at)
SELECT d.id, %(reviewer)s, v.verdict,
       CASE v.verdict WHEN 'should_be_cheaper' THEN %(cheapest)s
                      WHEN 'should_be_stronger' THEN %(strongest)s
                      WHEN 'correct' THEN d.served_tier_id END,
       CASE WHEN mod(d.id, 7) = 0 THEN 'short answer was enough' ELSE '' END, %(now)s, %(now)s
FROM review_decision d
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN %(every)s > 1 AND mod(d.id, 20) = 0 THEN 'unsure'
        WHEN mod(d.id, 5) = 0 THEN 'should_be_cheaper'
        WHEN mod(d.id, 5) = 1 THEN 'should_be_stronger'
        WHEN mod(d.id, 5) = 2 THEN 'unsure'
        ELSE 'correct' END AS verdict
) v
WHERE mod(d.id, %(every)s) = 0
"""

INSERT_ASSESSMENTS = """
INSERT INTO review_assessment (decision_id, difficulty, needed_tier_id, features, overkill_score,
                               underpowered_score, detector_version, assessed_at)
SELECT d.id, mod(d.id, 100) / 100.0, d.served_tier_id,
       jsonb_build_object('tokens', 20 + mod(d.id, 300), 'code', mod(d.id, 2), 'math', 0,
                          'reasoning', mod(d.id, 3), 'multi_step', 0, 'constraints', 0,
                          'simple', 1, 'questions', 1, 'non_ascii', 0.0),
       mod(d.id, 10) / 10.0, mod(d.id, 7) / 7.0, %(version)s, %(now)s
FROM review_decision d
"""

INSERT_FLAGS = """
INSERT INTO review_flag (decision_id, kind, confidence, dollars, reasons, detector_version,
                         created_at)
SELECT d.id, 'overkill', 0.5 + mod(d.id, 50) / 100.0, 0.01234567,
       '["a reasoning model served a 9-word greeting", "no failure signal"]',
       %(version)s, %(now)s
FROM review_decision d
WHERE mod(d.id, 12) = 0
"""


if __name__ == "__main__":
    main()
