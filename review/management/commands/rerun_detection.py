from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from review import detection
from review.management.arguments import moment
from review.models import Decision


class Command(BaseCommand):
    help = (
        "Re-score the decisions of a time range with the current detector version (after new "
        "thresholds or a newly adopted model). Earlier versions' flags are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=moment, required=True)
        parser.add_argument("--until", type=moment, help="Default: now.")
        parser.add_argument("--chunk", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        decisions = Decision.objects.filter(occurred_at__gte=options["since"])
        if options["until"]:
            decisions = decisions.filter(occurred_at__lt=options["until"])
        detector = detection.Detector.current()
        ids = list(decisions.order_by("pk").values_list("pk", flat=True))
        flagged = 0
        for start in range(0, len(ids), options["chunk"]):
            chunk = ids[start : start + options["chunk"]]
            with transaction.atomic():
                # Waits for a worker processing the same decisions, rather than racing it.
                list(Decision.objects.filter(pk__in=chunk).select_for_update().values_list("pk"))
                outcomes = detection.detect(decision_ids=chunk, detector=detector)
            flagged += sum(len(outcome.flags) for outcome in outcomes)
        self.stdout.write(
            f"Re-scored {len(ids)} decisions with {detector.version}: {flagged} flags."
        )
