"""Argument types shared by the management commands."""

from datetime import UTC, datetime

from django.core.management.base import CommandError


def moment(value: str) -> datetime:
    """An ISO 8601 date or time; UTC when it has no offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not an ISO 8601 date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
