from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review import catalog


class Command(BaseCommand):
    help = (
        "Load the shipped model catalog (tiers, models, prices, aliases). Idempotent: existing "
        "prices are kept unless --update-prices."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=catalog.CATALOG_FILE)
        parser.add_argument(
            "--update-prices",
            action="store_true",
            help="Overwrite the prices of existing models with the file's.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = catalog.read_catalog_file(options["file"])
        except ValueError as error:
            raise CommandError(f"--file: {error}") from error
        report = catalog.load_catalog(data=data, update_prices=options["update_prices"])
        created = report.created
        self.stdout.write(
            f"Catalog (prices as of {data['prices_as_of']}): created {created['tiers']} tiers, "
            f"{created['models']} models, {created['aliases']} aliases; "
            f"{len(report.prices_updated)} prices updated; {len(report.classified)} classified."
        )
        for name in report.classified:
            self.stdout.write(f"  classified {name}")
        for alias in report.merged:
            self.stdout.write(
                f"  {alias}: seen in logs before, its decisions now count as the alias"
            )
        for alias in report.alias_conflicts:
            self.stderr.write(f"  alias {alias!r} already points at another model; left as is")
