"""Redaction of personal data and secrets from prompt and response text, before it is stored.

Patterns are named; settings choose which built-in ones apply (``REDACT_PATTERNS``) and may add
their own (``REDACT_EXTRA_PATTERNS``). Each match becomes ``[NAME]``. This runs on every stored
prompt, so each built-in pattern has a cheap guard that skips texts it cannot match.
"""

import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import phonenumbers
from django.conf import settings

BUILT_IN: dict[str, str] = {
    # The lookbehind anchors each try at the start of a run: without it a long run of word
    # characters is rescanned from every position (quadratic time on untrusted text).
    "email": r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    # Keys of the usual shapes: provider prefixes, bearer tokens, our own, AWS access key ids.
    "api_key": (
        r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"
        r"|\brr_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}"
        r"|\bAKIA[0-9A-Z]{16}\b"
        r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
        r"|(?i:bearer)\s+[A-Za-z0-9._~+/-]{20,}=*"
    ),
    # 13 to 19 digits, optionally grouped by spaces or dashes; checked with Luhn below.
    "card": r"\b\d(?:[ -]?\d){12,18}\b",
    # Only a cheap pre-filter: libphonenumber decides what is a phone number.
    "phone": r"\d[\d ().-]{5,}\d",
}
# Cards before phones: a card number also looks like a long phone number.
ORDER = ("email", "api_key", "card", "phone")
_KEY_MARKERS = ("sk-", "pk-", "rk-", "rr_", "AKIA", "gh", "earer", "EARER")
GUARDS: dict[str, Callable[[str], bool]] = {
    "email": lambda text: "@" in text,
    "api_key": lambda text: any(marker in text for marker in _KEY_MARKERS),
}


def _luhn_valid(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


@cache
def compiled(
    names: tuple[str, ...], extra: tuple[tuple[str, str], ...]
) -> list[tuple[str, re.Pattern[str]]]:
    patterns = [(name, re.compile(BUILT_IN[name])) for name in ORDER if name in names]
    return patterns + [(name, re.compile(pattern)) for name, pattern in extra]


def redact(text: str, *, names: Iterable[str] | None = None) -> str:
    """``text`` with every match of the configured patterns replaced by ``[NAME]``."""
    if not text:
        return text
    chosen = tuple(settings.REDACT_PATTERNS if names is None else names)
    extra = tuple(settings.REDACT_EXTRA_PATTERNS.items()) if names is None else ()
    for name, pattern in compiled(chosen, extra):
        guard = GUARDS.get(name)
        if guard is not None and not guard(text):
            continue
        if name == "card":
            text = pattern.sub(lambda m: "[CARD]" if _luhn_valid(m.group()) else m.group(), text)
        elif name == "phone":
            if pattern.search(text):
                text = _redact_phone_numbers(text)
        else:
            text = pattern.sub(f"[{name.upper()}]", text)
    return text


def _redact_phone_numbers(text: str) -> str:
    # Numbers in international form anywhere, national form for the configured region.
    matches = list(phonenumbers.PhoneNumberMatcher(text, settings.REDACT_PHONE_REGION))
    for match in reversed(matches):
        text = text[: match.start] + "[PHONE]" + text[match.end :]
    return text


def redact_json(value: Any) -> Any:
    """Every string inside a JSON value, redacted; keys and structure kept."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value
