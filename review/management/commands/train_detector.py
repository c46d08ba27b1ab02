from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from review import learning


class Command(BaseCommand):
    help = (
        "Learn a misroute model from reviewer labels now, compare it with the heuristic on "
        "held-out labels, and store it as a new version; says whether it was adopted and why."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--min-labels", type=int, default=None, help="Override the detector settings' minimum."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = learning.train(minimum_labels=options["min_labels"])
        self.stdout.write(result.message)
