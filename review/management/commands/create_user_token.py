from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.models import UserToken


class Command(BaseCommand):
    help = (
        "Issue a personal access token for the read/label API to an existing user; it carries "
        "that user's permissions. The token is printed once, alone on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for (e.g. notebook).")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        try:
            user = users.objects.get(**{users.USERNAME_FIELD: options["username"]})
        except users.DoesNotExist as error:
            raise CommandError(f"USERNAME: no user {options['username']!r}.") from error
        limit = UserToken._meta.get_field("name").max_length
        if limit is not None and len(options["name"]) > limit:
            raise CommandError(f"--name: at most {limit} characters, got {len(options['name'])}.")
        if not user.is_active:
            raise CommandError(f"USERNAME: {user.get_username()} is inactive.")
        token, plaintext = UserToken.issue(user=user, name=options["name"])
        self.stdout.write(
            f"Issued token {token} to {user.get_username()}; it acts with their permissions and "
            "is shown once:"
        )
        self.stdout.write(plaintext)
