from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from review import demo
from review.management.arguments import moment


class Command(BaseCommand):
    help = "Generate a realistic week of routed traffic for the demo gateways."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", type=int, default=20_000, help="Number of decisions.")
        parser.add_argument("--seed", type=int, default=7, help="Same seed, same week.")
        parser.add_argument(
            "--end",
            type=moment,
            help="End of the week (ISO time, UTC if no offset). Default: the start of this hour.",
        )
        parser.add_argument(
            "--replace", action="store_true", help="Delete the demo gateways' decisions first."
        )
        parser.add_argument(
            "--labels",
            type=int,
            default=0,
            help="Also label this many decisions from the ground truth, as reviewers would.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["size"] < 1:
            raise CommandError("--size must be at least 1.")
        existing = demo.existing_demo_decisions()
        if existing and not options["replace"]:
            self.stdout.write(
                f"The demo week is already loaded ({existing} decisions); use --replace to "
                "generate it again."
            )
            return
        if existing:
            demo.clear_demo_data()
        end = options["end"] or timezone.now().replace(minute=0, second=0, microsecond=0)
        try:
            summary = demo.generate_week(size=options["size"], seed=options["seed"], end=end)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Generated {summary.decisions} decisions up to {end:%Y-%m-%d %H:%M} UTC: "
            f"{summary.planted_overkill} planted overkill, {summary.planted_underpowered} planted "
            f"underpowered, {summary.misrouted} misrouted in all (ground truth in DemoTruth)."
        )
        if options["labels"]:
            written = demo.label_sample(count=options["labels"], seed=options["seed"])
            self.stdout.write(f"Labelled {written} decisions as demo reviewers.")
        if demo.ensure_demo_policy():
            self.stdout.write("Activated the demo router's policy as policy v1.")
