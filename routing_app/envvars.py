"""Typed readers for environment variables.

Each helper returns a parsed value or raises ``ImproperlyConfigured`` naming the variable and what
was wrong with it, so a bad deployment fails at start-up with a sentence rather than later with a
traceback.
"""

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(
    name: str,
    default: str | None = None,
    *,
    hint: str = "",
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The variable's value, or ``default``; with no default a missing variable is an error."""
    value = environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"{name} must be set{'; ' + hint if hint else ''}.")
        return default
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] = os.environ) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); unset or empty gives ``default``."""
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> int:
    """An integer, optionally bounded below."""
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """A comma-separated list; blanks around items are dropped, empty items are an error."""
    value = environ.get(name)
    if value is None or value.strip() == "":
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(item == "" for item in items):
        raise ImproperlyConfigured(f"{name}={value!r} has an empty item; separate items by commas.")
    return items


def env_url(
    name: str,
    *,
    schemes: tuple[str, ...],
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """A URL whose scheme is one of ``schemes``, or None when the variable is unset or empty."""
    value = environ.get(name, "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        expected = ", ".join(f"{scheme}://" for scheme in schemes)
        raise ImproperlyConfigured(
            f"{name} must start with one of {expected}; got {parts.scheme or 'no scheme'!r}."
        )
    if not parts.hostname and not parts.path.strip("/"):
        raise ImproperlyConfigured(f"{name} has no host or database name.")
    return value


def env_path(name: str, default: Path, *, environ: Mapping[str, str] = os.environ) -> Path:
    """A filesystem path; relative paths are taken from the current directory."""
    value = environ.get(name, "").strip()
    return Path(value).resolve() if value else default


def env_json_patterns(name: str, *, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """A JSON object of named regular expressions, each compiled here to fail at start-up."""
    value = environ.get(name, "").strip()
    if not value:
        return {}
    try:
        patterns = json.loads(value)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(f"{name} is not JSON: {error.msg}.") from None
    if not isinstance(patterns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in patterns.items()
    ):
        raise ImproperlyConfigured(
            f'{name} must be a JSON object of names to patterns: {{"a": "b"}}.'
        )
    for key, pattern in patterns.items():
        try:
            re.compile(pattern)
        except re.error as error:
            raise ImproperlyConfigured(f"{name}: pattern {key!r} is invalid: {error}.") from None
    return patterns
