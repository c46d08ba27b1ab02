import importlib
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from review import rollups
from review.detection import Detector
from review.models import Decision, ReviewRound

# Assessments for the generated decisions: a difficulty that follows the served tier loosely (a
# quarter of the scale per tier plus noise), so the difficulty chart has a shape to show.
INSERT_ASSESSMENTS = """
INSERT INTO review_assessment (decision_id, difficulty, needed_tier_id, features, overkill_score,
    underpowered_score, detector_version, assessed_at)
SELECT
    a.id,
    a.difficulty,
    (SELECT id FROM review_tier WHERE rank = least(3, floor(a.difficulty * 4)::int)),
    '{}'::jsonb,
    0, 0,
    %(version)s,
    a.processed_at
FROM (
    SELECT d.id, d.processed_at,
        least(1.0, greatest(0.0, coalesce(t.rank, 1) * 0.22 + random() * 0.4)) AS difficulty
    FROM review_decision AS d
    LEFT JOIN review_tier AS t ON t.id = d.served_tier_id
) AS a
"""

# Each labelled, unflagged decision stands for a round's random sample: a round per ISO week of
# labels, with those decisions queued as its sample, so the miss rate has something to read.
INSERT_SAMPLE_ITEMS = """
INSERT INTO review_queueitem (round_id, decision_id, source, priority, position)
SELECT r.id, s.decision_id, 'sample', 0,
    row_number() OVER (PARTITION BY r.id ORDER BY s.decision_id) - 1
FROM (
    SELECT DISTINCT l.decision_id, d.occurred_at
    FROM review_label AS l
    JOIN review_decision AS d ON d.id = l.decision_id
    WHERE NOT EXISTS (SELECT FROM review_flag AS f WHERE f.decision_id = l.decision_id)
) AS s
JOIN review_reviewround AS r
    ON r.week_start = date_trunc('week', s.occurred_at AT TIME ZONE 'UTC')::date
"""


class Command(BaseCommand):
    help = (
        "Fill an empty PostgreSQL database with synthetic traffic for benchmarks: N decisions "
        "over the last 90 days, generated inside PostgreSQL (INSERT … SELECT over "
        "generate_series, bench/explorer.py's filler), with flags, labels, assessments and a "
        "random sample per week; then the dashboard's rollups. Needs load_catalog first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=1_000_000, help="Decisions to make.")
        parser.add_argument("--seed", type=int, default=5, help="Same seed, same traffic.")
        parser.add_argument(
            "--no-rollups", action="store_true", help="Leave the rollups to rebuild_rollups."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["count"] < 1:
            raise CommandError("--count must be at least 1.")
        if connection.vendor != "postgresql":
            raise CommandError("generate_decisions needs PostgreSQL (DATABASE_URL).")
        if Decision.objects.exists():
            raise CommandError(
                "The database already has decisions; generate_decisions fills an empty one."
            )
        fill = _filler()
        now = timezone.now()
        began = time.perf_counter()
        counts = fill(options["count"], now=now, seed=options["seed"])
        self.stdout.write(
            f"Generated {counts['decisions']:,} decisions, {counts['flags']:,} flags and "
            f"{counts['labels']:,} labels in {time.perf_counter() - began:.1f} s."
        )

        began = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(INSERT_ASSESSMENTS, {"version": Detector.current().version})
            assessed = cursor.rowcount
            cursor.execute(
                "SELECT DISTINCT date_trunc('week', d.occurred_at AT TIME ZONE 'UTC')::date "
                "FROM review_label AS l JOIN review_decision AS d ON d.id = l.decision_id"
            )
            for (week_start,) in cursor.fetchall():
                ReviewRound.objects.get_or_create(week_start=week_start)
            cursor.execute(INSERT_SAMPLE_ITEMS)
            sampled = cursor.rowcount
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE review_assessment")
        self.stdout.write(
            f"Assessed {assessed:,} decisions and queued {sampled:,} labelled ones as random "
            f"samples in {time.perf_counter() - began:.1f} s."
        )

        if not options["no_rollups"]:
            began = time.perf_counter()
            today = rollups.utc_day(now)
            days = rollups.rebuild(first=today - timedelta(days=91), last=today)
            self.stdout.write(f"Rolled up {days} days in {time.perf_counter() - began:.1f} s.")


def _filler() -> Any:
    """bench/explorer.py's ``fill``: the benchmark scripts live next to the project, not in the
    installed package, so they are importable from a checkout only."""
    root = str(Path(settings.BASE_DIR))
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        # By name: the scripts are not part of the typed package.
        return importlib.import_module("bench.explorer").fill
    except ImportError as error:
        raise CommandError(
            f"generate_decisions needs the benchmark scripts of a checkout (bench/): {error}"
        ) from error
