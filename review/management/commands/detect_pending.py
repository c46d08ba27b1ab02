from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from review import pipeline


class Command(BaseCommand):
    help = "Run detection now on every pending decision, in this process (no worker needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="At most this many.")

    def handle(self, *args: Any, **options: Any) -> None:
        pending = pipeline.pending().order_by("received_at").values_list("pk", flat=True)
        ids = list(pending[: options["limit"]] if options["limit"] else pending)
        processed = pipeline.process_in_chunks(ids)
        self.stdout.write(f"Processed {processed} of {len(ids)} pending decisions.")
