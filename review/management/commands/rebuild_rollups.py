import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review import rollups
from review.management.arguments import moment
from review.models import DailyRollup


class Command(BaseCommand):
    help = (
        "Rebuild the dashboard's daily rollups of a range of UTC days from the decisions, flags "
        "and labels (by default every day with decisions). Safe while traffic flows: each chunk "
        "of days is replaced in one transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since", type=moment, help="First day (ISO date; a time counts as its UTC day)."
        )
        parser.add_argument("--until", type=moment, help="Last day, included.")
        parser.add_argument(
            "--chunk-days",
            type=int,
            default=rollups.REBUILD_CHUNK_DAYS,
            help="Days rebuilt per transaction.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["chunk_days"] < 1:
            raise CommandError("--chunk-days must be at least 1.")
        since = rollups.utc_day(options["since"]) if options["since"] else None
        until = rollups.utc_day(options["until"]) if options["until"] else None
        known = rollups.decision_days() if since is None or until is None else None
        days = day_range(since, until, known)
        if days is None:
            self.stdout.write("No decisions yet: nothing to roll up.")
            return
        first, last = days
        if last < first:
            raise CommandError(f"--until ({last}) is before --since ({first}).")
        began = time.perf_counter()
        rebuilt = rollups.rebuild(first=first, last=last, chunk_days=options["chunk_days"])
        rows = DailyRollup.objects.filter(day__gte=first, day__lte=last).count()
        self.stdout.write(
            f"Rebuilt the rollups of {rebuilt} days ({first} to {last}) in "
            f"{time.perf_counter() - began:.1f} s: {rows:,} rows of daily traffic."
        )


def day_range(
    since: date | None, until: date | None, known: tuple[date, date] | None
) -> tuple[date, date] | None:
    """The days to rebuild: the given bounds, a missing one taken from the decisions' first or
    last day (widened to the given one, so one bound alone is never "the wrong way round")."""
    if since is not None and until is not None:
        return since, until
    if since is not None:
        return since, max(known[1], since) if known else since
    if until is not None:
        return (min(known[0], until) if known else until), until
    return known
