import pytest

from review.redaction import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ops@acme.io today", "write to [EMAIL] today"),
        ("call (415) 555-0134 or +44 20 7946 0958", "call [PHONE] or [PHONE]"),
        ("visa 4111-1111-1111-1111 exp 12/29", "visa [CARD] exp 12/29"),
        ("key sk-proj-abcdefghijklmnopqrstuv", "key [API_KEY]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "Authorization: [API_KEY]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [API_KEY]"),
    ],
)
def test_personal_data_and_secrets_are_replaced(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order #100012 shipped on 2026-11-30 at 14:02",
        "version 1.4.2, p95 420 ms, 365 days, $5000 at 4.5%",
        "tracking 1234567890123",  # 13 digits, fails Luhn: not a card
        "What is 120 * 7?",
    ],
)
def test_ordinary_numbers_are_left_alone(text):
    assert redact(text) == text


def test_only_the_configured_patterns_apply(settings):
    settings.REDACT_PATTERNS = ["email"]
    settings.REDACT_EXTRA_PATTERNS = {"employee": r"EMP-\d{6}"}
    assert redact("jo@x.org EMP-123456 +1 415 555 0134") == "[EMAIL] [EMPLOYEE] +1 415 555 0134"
