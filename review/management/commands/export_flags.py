import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from review.detection import Detector
from review.management.arguments import moment
from review.models import Assessment, Flag, FlagKind


class Command(BaseCommand):
    help = (
        "Print the current detector version's flags as JSON lines {event_id, kind, confidence, "
        "dollars, detector_version, reasons}. With --all, one line per assessed decision and "
        "flag kind, with its score and flagged true or false, so a ranking can be evaluated "
        "elsewhere."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=moment, help="Decisions from this time on (UTC).")
        parser.add_argument("--all", action="store_true", help="Every assessed decision.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            self._all(options["since"])
            return
        # The current detector's flags: earlier versions' stay stored but would repeat them.
        flags = (
            Flag.objects.filter(detector_version=Detector.current().version)
            .select_related("decision")
            .order_by("decision__occurred_at", "pk")
        )
        if options["since"]:
            flags = flags.filter(decision__occurred_at__gte=options["since"])
        for flag in flags.iterator(chunk_size=2000):
            self.stdout.write(
                json.dumps(
                    {
                        "event_id": flag.decision.event_id,
                        "kind": flag.kind,
                        "confidence": flag.confidence,
                        "dollars": str(flag.dollars),
                        "detector_version": flag.detector_version,
                        "reasons": flag.reasons,
                    }
                )
            )

    def _all(self, since: datetime | None) -> None:
        version = Detector.current().version
        flagged = set(
            Flag.objects.filter(detector_version=version).values_list("decision_id", "kind")
        )
        assessments = Assessment.objects.filter(detector_version=version).order_by(
            "decision__occurred_at", "pk"
        )
        if since:
            assessments = assessments.filter(decision__occurred_at__gte=since)
        rows = assessments.values_list(
            "decision_id", "decision__event_id", "overkill_score", "underpowered_score"
        )
        for decision_id, event_id, overkill, underpowered in rows.iterator(chunk_size=5000):
            for kind, score in (
                (FlagKind.OVERKILL, overkill),
                (FlagKind.UNDERPOWERED, underpowered),
            ):
                self.stdout.write(
                    json.dumps(
                        {
                            "event_id": event_id,
                            "kind": str(kind),
                            "score": score,
                            "flagged": (decision_id, kind) in flagged,
                            "detector_version": version,
                        }
                    )
                )
