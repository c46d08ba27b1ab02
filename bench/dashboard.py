"""Dashboard latency on a large table: the home page's server time over the default 30 days and
over 90 days with filters, p50 and p95 against the 300 ms target, and the time to build the
daily rollups from scratch.

    .venv/bin/python bench/dashboard.py                       # 5,000,000 decisions, as in the issue
    .venv/bin/python bench/dashboard.py --decisions 200000    # a quicker look

It creates (and drops first) its own database, ``rr_dashboard_bench`` by default, and fills it
with ``manage.py generate_decisions`` (rows generated inside PostgreSQL).
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from datetime import timedelta
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import prepare  # noqa: E402

TARGET_MS = 300
# The pages measured: the default view, and 90 days with filters that keep few rows (a small
# gateway, a tier and a category, a model) or many (the largest gateway).
VIEWS = [
    ("default: last 30 days", ""),
    ("last 7 days", "days=7"),
    ("last 90 days", "days=90"),
    # The previous range of a 90-day view lies before the generated traffic; here both halves
    # of the data are read.
    ("45 days, and the 45 before them", "since={since_45}"),
    ("90 days, gateway=litellm-eu (40%)", "days=90&gateway=litellm-eu"),
    ("90 days, gateway=support-bot (5%)", "days=90&gateway=support-bot"),
    ("90 days, tier=large & category=code", "days=90&tier=large&category=code"),
    ("90 days, model=gpt-4o & gateway=litellm-us", "days=90&model=gpt-4o&gateway=litellm-us"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per view")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="rr_dashboard_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database of an earlier run with as many decisions (generated the same "
        "day), and measure again",
    )
    args = parser.parse_args()
    # WhiteNoise notes that collectstatic has not run; static files play no part here.
    warnings.filterwarnings("ignore", "No directory at")

    if args.reuse and reusable(args):
        use_existing(args)
    else:
        prepare(args.server, args.database, args.redis_url)
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from review import rollups
    from review.models import (
        DailyFlagRollup,
        DailyGatewayRollup,
        DailyReviewRollup,
        DailyRollup,
        Decision,
    )

    print(f"Dashboard benchmark: {args.decisions:,} decisions over 90 days")
    if Decision.objects.exists():
        print("  reusing the decisions of an earlier run")
    else:
        out = StringIO()
        began = time.perf_counter()
        call_command(
            "generate_decisions", "--count", str(args.decisions), "--no-rollups", stdout=out
        )
        print(f"  generated in {time.perf_counter() - began:.0f} s (generate_decisions):")
        for line in out.getvalue().splitlines():
            print(f"    {line}")

    today = rollups.utc_day(timezone.now())
    first = today - timedelta(days=91)
    tables = (DailyRollup, DailyGatewayRollup, DailyFlagRollup, DailyReviewRollup)
    with connection.cursor() as cursor:  # from scratch, on a reused database too
        cursor.execute(f"TRUNCATE {', '.join(table._meta.db_table for table in tables)}")
    began = time.perf_counter()
    days = rollups.rebuild(first=first, last=today)
    build_seconds = time.perf_counter() - began
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table._meta.db_table}")
    rows = DailyRollup.objects.count()
    gateway_rows = DailyGatewayRollup.objects.count()
    flag_rows = DailyFlagRollup.objects.count()
    print(
        f"  rollups built from scratch: {days} days, {args.decisions:,} decisions in "
        f"{build_seconds:.1f} s ({args.decisions / build_seconds:,.0f} decisions/s); "
        f"{rows:,} traffic rows ({gateway_rows:,} per gateway and tier), {flag_rows:,} flag rows"
    )

    raw_ms, rollup_ms, same = aggregate_comparison(today)
    print(
        f"  30 days of cost by day and tier: {raw_ms:.0f} ms on the decisions table, "
        f"{rollup_ms:.1f} ms from the rollups ({'the same' if same else 'DIFFERENT'} figures)"
    )

    client = signed_in_client()
    results = [measure(client, name, query, args.repeat) for name, query in VIEWS]
    print(
        f"  the dashboard's server time (the whole request: filters, rollup queries, KPIs, "
        f"figures, template), {args.repeat} requests per view after one warm-up; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"  {'view':<44} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for result in results:
        print(
            f"  {result['view']:<44} {result['p50']:>8.1f} {result['p95']:>8.1f} "
            f"{result['queries']:>8}"
        )
    slowest = max(results, key=lambda result: result["p95"])
    verdict = "met" if slowest["p95"] < TARGET_MS else "MISSED"
    print(
        f"  slowest p95: {slowest['p95']:.1f} ms ({slowest['view']}) against the {TARGET_MS} ms "
        f"target: {verdict}"
    )


def reusable(args: argparse.Namespace) -> bool:
    """Whether the database holds a run's decisions, all of them."""
    import psycopg

    try:
        with psycopg.connect(f"{args.server}/{args.database}") as conn:
            found = conn.execute("SELECT count(*) FROM review_decision").fetchone()
    except psycopg.Error:
        return False
    return found is not None and found[0] == args.decisions


def use_existing(args: argparse.Namespace) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"{args.server}/{args.database}",
            "REDIS_URL": args.redis_url,
            "SECRET_KEY": "benchmark-only",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "LOG_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore:No directory at",
        }
    )
    import django

    django.setup()


def signed_in_client():  # -> django.test.Client, importable once Django is set up
    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import override_settings

    # The benchmark serves no static files; the manifest storage would want collectstatic.
    override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench@example.com", "bench-only-pw"
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    return client


def measure(client, view: str, query: str, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from review.rollups import utc_day

    query = query.format(since_45=(utc_day(timezone.now()) - timedelta(days=44)).isoformat())
    url = f"/?{query}" if query else "/"
    response = client.get(url)  # warm-up: the pages in the buffer cache, as on a server in use
    assert response.status_code == 200, response.content[:500]
    assert b"dashboard-charts" in response.content
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    timings.sort()
    return {
        "view": view,
        "p50": statistics.median(timings),
        # Nearest rank: with 20 runs, the 19th fastest.
        "p95": timings[round(0.95 * (len(timings) - 1))],
        "queries": len(captured.captured_queries),
    }


def aggregate_comparison(today) -> tuple[float, float, bool]:
    """The issue's yardstick: 30 days of cost and calls by day and tier, straight from the
    decisions table and from the daily rollups (best of three each), and whether both say the
    same."""
    from django.db import connection

    from review.rollups import day_start

    since = day_start(today - timedelta(days=29))
    raw = (
        "SELECT (occurred_at AT TIME ZONE 'UTC')::date, served_tier_id, count(*), "
        # An unpriced model's calls cost nothing known: no sum here, a zero in the rollup.
        "coalesce(sum(cost_usd), 0) FROM review_decision WHERE occurred_at >= %s GROUP BY 1, 2"
    )
    rolled = (
        "SELECT day, tier_id, sum(decisions), sum(cost_usd) FROM review_dailyrollup "
        "WHERE day >= %s GROUP BY 1, 2"
    )

    def best(sql: str, value) -> tuple[float, set]:
        timings = []
        with connection.cursor() as cursor:
            for _ in range(3):
                began = time.perf_counter()
                cursor.execute(sql, [value])
                rows = set(cursor.fetchall())
                timings.append((time.perf_counter() - began) * 1000)
        return min(timings), rows

    raw_ms, raw_rows = best(raw, since)
    rollup_ms, rollup_rows = best(rolled, since.date())
    return raw_ms, rollup_ms, raw_rows == rollup_rows


if __name__ == "__main__":
    main()
