from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from review import rounds
from review.management.arguments import moment


class Command(BaseCommand):
    help = (
        "Open the review round of a week (by default last week) and fill it with the top flags "
        "and a random sample of unflagged decisions. Running it again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--week", type=moment, help="Any day of the week to review.")
        parser.add_argument("--size", type=int, default=100)
        parser.add_argument("--per-kind-cap", type=int, default=60)
        parser.add_argument("--sample-size", type=int, default=20)
        parser.add_argument("--labels-per-item", type=int, choices=[1, 2], default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        review_round, created = rounds.open_round(
            week_start=options["week"].date() if options["week"] else None,
            size=options["size"],
            per_kind_cap=options["per_kind_cap"],
            sample_size=options["sample_size"],
            labels_per_item=options["labels_per_item"],
        )
        items = review_round.items.count()
        verb = "Opened" if created else "Already open:"
        self.stdout.write(f"{verb} round {review_round} with {items} items.")
