from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review import labels


class Command(BaseCommand):
    help = (
        "Import reviewer labels from JSON lines {event_id, verdict, right_tier, reviewer, note} "
        "(and gateway where event ids repeat across gateways). All lines or none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            lines = options["file"].read_text().splitlines()
        except OSError as error:
            raise CommandError(f"FILE: cannot read {options['file']}: {error.strerror}") from None
        report = labels.import_labels(lines)
        if report.errors:
            for problem in report.errors:
                self.stderr.write(problem)
            raise CommandError(f"Nothing imported: {len(report.errors)} problem(s) above.")
        self.stdout.write(
            f"Imported {report.created} new and {report.updated} updated labels"
            + (
                f"; new reviewers: {', '.join(report.new_reviewers)}"
                if report.new_reviewers
                else ""
            )
            + "."
        )
