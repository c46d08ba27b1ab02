from typing import Any

from django.core.management.base import BaseCommand

from review import roles


class Command(BaseCommand):
    help = "Create or update the role groups: viewer, reviewer, policy owner, admin. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        for role, count in roles.ensure_roles().items():
            self.stdout.write(f"{role}: {count} permissions")
