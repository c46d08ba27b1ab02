from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from review.models import ApiKey, Gateway


def _create_gateway(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_gateway", *args, stdout=out)
    return out.getvalue().splitlines()


def test_create_gateway_prints_the_key_alone_on_the_last_line(db):
    lines = _create_gateway("prod-proxy", "--scopes", "ingest,policy:read")
    key = ApiKey.authenticate(lines[-1])
    assert key is not None
    assert key.gateway.name == "prod-proxy"
    assert key.scopes == ["ingest", "policy:read"]
    secret = lines[-1].split("_", 2)[2]
    assert all(secret not in line for line in lines[:-1])


def test_create_gateway_defaults_to_the_ingest_scope(db):
    lines = _create_gateway("support-bot")
    assert ApiKey.authenticate(lines[-1]).scopes == ["ingest"]


def test_create_gateway_issues_another_key_for_an_existing_gateway(db):
    first = _create_gateway("prod-proxy")[-1]
    second = _create_gateway("prod-proxy", "--scopes", "export:read")[-1]
    assert first != second
    assert Gateway.objects.count() == 1
    assert ApiKey.objects.count() == 2


def test_an_unknown_scope_is_refused_and_nothing_is_created(db):
    with pytest.raises(CommandError, match="--scopes: Unknown scope root"):
        _create_gateway("prod-proxy", "--scopes", "ingest,root")
    assert not Gateway.objects.exists()


def test_ensure_admin_prints_credentials_once_and_keeps_the_password(db):
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    password = out.getvalue().split("password: ")[1].strip()
    user = User.objects.get(username="admin")
    assert user.is_superuser and user.check_password(password)
    call_command("ensure_admin", stdout=out)
    user.refresh_from_db()
    assert user.check_password(password)
    assert "exists" in out.getvalue().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["x" * 101], "NAME: at most 100 characters, got 101"),
        (["  "], "NAME: the gateway name must not be empty"),
        (["ok", "--key-name", "k" * 101], "--key-name: at most 100 characters"),
        (["ok", "--scopes", ","], "--scopes: Give at least one scope"),
    ],
)
def test_create_gateway_names_the_bad_argument(db, args, reason):
    with pytest.raises(CommandError, match=reason):
        _create_gateway(*args)
    assert not Gateway.objects.exists()
