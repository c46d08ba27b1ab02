from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review import detection
from review.models import Decision


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Re-score the decisions of a time range with the current detector version (after new "
        "thresholds or a newly adopted model). Earlier versions' flags are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=_moment, required=True)
        parser.add_argument("--until", type=_moment, help="Default: now.")
        parser.add_argument("--chunk", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        decisions = Decision.objects.filter(occurred_at__gte=options["since"])
        if options["until"]:
            decisions = decisions.filter(occurred_at__lt=options["until"])
        detector = detection.Detector.current()
        ids = list(decisions.order_by("pk").values_list("pk", flat=True))
        flagged = 0
        for start in range(0, len(ids), options["chunk"]):
            outcomes = detection.detect(
                decision_ids=ids[start : start + options["chunk"]], detector=detector
            )
            flagged += sum(len(outcome.flags) for outcome in outcomes)
        self.stdout.write(
            f"Re-scored {len(ids)} decisions with {detector.version}: {flagged} flags."
        )
