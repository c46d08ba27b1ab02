import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from routing_app.envvars import env_bool, env_int, env_list, env_path, env_str, env_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("raw", "default", "expected"),
    [("1", False, True), ("Yes", False, True), ("off", True, False), ("", True, True)],
)
def test_booleans_accept_the_usual_spellings_and_empty_means_default(raw, default, expected):
    assert env_bool("FLAG", default, environ={"FLAG": raw}) is expected


def test_a_bad_boolean_names_the_variable_and_the_spellings():
    with pytest.raises(
        ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean; use one of 1/0"
    ):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_missing_required_string_is_an_error_naming_it():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        env_str("SECRET_KEY", environ={})
    assert env_str("SECRET_KEY", "fallback", environ={"SECRET_KEY": ""}) == "fallback"


def test_integers_are_parsed_and_bounded():
    assert env_int("N", 5, environ={}) == 5
    assert env_int("N", 5, environ={"N": " 12 "}) == 12
    with pytest.raises(ImproperlyConfigured, match="N='twelve' is not an integer"):
        env_int("N", 5, environ={"N": "twelve"})
    with pytest.raises(ImproperlyConfigured, match="N=-1 is below the minimum of 0"):
        env_int("N", 5, minimum=0, environ={"N": "-1"})


def test_lists_split_on_commas_and_refuse_empty_items():
    assert env_list("HOSTS", ["a"], environ={"HOSTS": "x.org, y.org"}) == ["x.org", "y.org"]
    assert env_list("HOSTS", ["a"], environ={}) == ["a"]
    with pytest.raises(
        ImproperlyConfigured, match=re.escape("HOSTS='x.org,,y.org' has an empty item")
    ):
        env_list("HOSTS", [], environ={"HOSTS": "x.org,,y.org"})


def test_urls_must_use_an_expected_scheme():
    ok = env_url("DATABASE_URL", schemes=("postgres",), environ={"DATABASE_URL": "postgres://h/db"})
    assert ok == "postgres://h/db"
    assert env_url("DATABASE_URL", schemes=("postgres",), environ={}) is None
    with pytest.raises(
        ImproperlyConfigured, match=r"DATABASE_URL must start with one of postgres://; got 'mysql'"
    ):
        env_url("DATABASE_URL", schemes=("postgres",), environ={"DATABASE_URL": "mysql://h/db"})
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL must start with one of redis://"):
        env_url("REDIS_URL", schemes=("redis",), environ={"REDIS_URL": "localhost:6379"})


def test_paths_resolve_relative_to_the_working_directory(tmp_path):
    assert env_path("DATA_DIR", tmp_path, environ={}) == tmp_path
    assert env_path("DATA_DIR", tmp_path, environ={"DATA_DIR": "x"}) == Path("x").resolve()


def _load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh process with exactly the given variables."""
    environ = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={**environ, "DJANGO_SETTINGS_MODULE": "routing_app.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_starting_without_secret_key_outside_debug_is_a_clear_error(tmp_path):
    result = _load_settings(tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set; it is required when DEBUG is off" in (
        result.stderr
    )


def test_debug_starts_with_nothing_else_set(tmp_path):
    result = _load_settings(tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_a_development_key_is_refused_outside_debug(tmp_path):
    result = _load_settings(tmp_path, SECRET_KEY="django-insecure-copied-from-a-blog")
    assert "SECRET_KEY must be a real secret when DEBUG is off" in result.stderr


def test_a_database_url_of_another_kind_is_refused_at_start(tmp_path):
    result = _load_settings(tmp_path, DEBUG="1", DATABASE_URL="mysql://root@localhost/rr")
    assert result.returncode != 0
    assert (
        "DATABASE_URL must start with one of postgres://, postgresql://, sqlite://" in result.stderr
    )


def test_production_database_without_a_broker_is_refused(tmp_path):
    result = _load_settings(
        tmp_path, SECRET_KEY="a-real-secret", DATABASE_URL="postgres://u@127.0.0.1/rr"
    )
    assert result.returncode != 0
    assert "REDIS_URL must be set when DATABASE_URL is" in result.stderr


@pytest.mark.parametrize(("value", "trusted"), [("", "False"), ("1", "True")])
def test_proxy_headers_are_trusted_only_when_asked(tmp_path, value, trusted):
    probe = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER is not None)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {probe}"],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DATA_DIR": str(tmp_path),
            "DEBUG": "1",
            "TRUST_PROXY_HEADERS": value,
            "DJANGO_SETTINGS_MODULE": "routing_app.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == trusted, result.stderr
