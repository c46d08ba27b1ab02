from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from review.models import ApiKey, Gateway, Scope


class Command(BaseCommand):
    help = (
        "Create a gateway (or reuse one of that name) and issue it an API key. The key is printed "
        "once, alone on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--scopes",
            default=Scope.INGEST.value,
            help=f"Comma-separated, from: {', '.join(Scope.values)}. Default: ingest.",
        )
        parser.add_argument("--key-name", default="", help="What the key is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        _check_length("NAME", name, Gateway._meta.get_field("name").max_length)
        _check_length("--key-name", options["key_name"], ApiKey._meta.get_field("name").max_length)
        try:
            with transaction.atomic():
                gateway, created = Gateway.objects.get_or_create(name=name)
                key, plaintext = ApiKey.issue(
                    gateway=gateway, scopes=scopes, name=options["key_name"]
                )
        except ValidationError as error:
            raise CommandError(f"--scopes: {'; '.join(error.messages)}") from error
        verb = "Created gateway" if created else "Gateway exists:"
        self.stdout.write(f"{verb} {gateway.name} (id {gateway.pk}).")
        self.stdout.write(
            f"Issued key {key} with scopes {', '.join(key.scopes)}; it is shown once:"
        )
        self.stdout.write(plaintext)


def _check_length(label: str, value: str, limit: int | None) -> None:
    if label == "NAME" and not value:
        raise CommandError("NAME: the gateway name must not be empty.")
    if limit is not None and len(value) > limit:
        raise CommandError(f"{label}: at most {limit} characters, got {len(value)}.")
