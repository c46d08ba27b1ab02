"""The container setup: compose accepts the file, and every command points at code that exists.

No containers are started; docker-compose only validates, and the rest is read with PyYAML and
checked against the project's own modules, management commands and URLs.
"""

import ast
import importlib
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
REQUIRED_SECRETS = {"SECRET_KEY": "compose-test-secret", "POSTGRES_PASSWORD": "compose-test-pw"}
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}


# --- helpers ---------------------------------------------------------------------------------


def compose_config(tmp_path: Path, **secrets: str) -> subprocess.CompletedProcess[str]:
    """Run ``docker-compose config -q`` with exactly the given secrets in its environment."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed; run `apt-get install docker-compose`.")
    env = {key: value for key, value in os.environ.items() if key not in REQUIRED_SECRETS}
    env.update(secrets)
    # An empty env file, so a developer's .env cannot supply what the test leaves out.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    return subprocess.run(
        [binary, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def compose_services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def app_services() -> dict[str, dict[str, Any]]:
    """Services built from this repository, or running the image one of them builds."""
    services = compose_services()
    app_images = {
        spec["image"] for spec in services.values() if "build" in spec and "image" in spec
    }
    return {
        name: spec
        for name, spec in services.items()
        if "build" in spec or spec.get("image") in app_images
    }


def split_shell(script: str) -> list[list[str]]:
    """The argv of each program a shell line runs, split at ``&&``, ``;``, ``|`` and the like."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    programs: list[list[str]] = [[]]
    for token in lexer:
        if token in SHELL_OPERATORS:
            programs.append([])
        else:
            programs[-1].append(token)
    return [argv for argv in programs if argv]


def programs_in(command: str | list[str]) -> list[list[str]]:
    """The argv of each program a compose ``command`` or healthcheck ``test`` runs."""
    if isinstance(command, str):
        return split_shell(command)
    if command[0] == "CMD":
        return [command[1:]]
    if command[0] == "CMD-SHELL":
        return split_shell(command[1])
    if command[:2] == ["sh", "-c"]:
        return split_shell(command[2])
    return [command]


def wsgi_target(argv: list[str]) -> str:
    """gunicorn's ``module:attribute`` argument (``--bind 0.0.0.0:8000`` is not one)."""
    for arg in argv[1:]:
        module, colon, attribute = arg.partition(":")
        if (
            colon
            and attribute.isidentifier()
            and all(part.isidentifier() for part in module.split("."))
        ):
            return arg
    raise AssertionError(f"no module:attribute in {argv}")


def option_value(argv: list[str], short: str, long: str) -> str:
    for index, arg in enumerate(argv):
        if arg in (short, long):
            return argv[index + 1]
        if arg.startswith(f"{long}="):
            return arg.partition("=")[2]
    raise AssertionError(f"{short}/{long} missing from {argv}")


def check_python_snippet(code: str) -> None:
    """A ``python -c`` snippet: its imports exist and every URL in it is routed by Django."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
        elif isinstance(node, ast.Constant) and str(node.value).startswith(("http:", "https:")):
            resolve(urlsplit(node.value).path)  # raises Resolver404 when nothing matches


def check_program(argv: list[str]) -> None:
    """Fail unless the program's target (WSGI app, Celery app, command, URL) exists."""
    program = Path(argv[0]).name
    if program == "gunicorn":
        module_name, _, attribute = wsgi_target(argv).partition(":")
        assert hasattr(importlib.import_module(module_name), attribute)
    elif program == "celery":
        package = option_value(argv, "-A", "--app")
        # find_app is how the celery command turns -A into an app.
        assert isinstance(find_app(package), Celery)
        assert isinstance(importlib.import_module(package).celery_app, Celery)
    elif program.startswith("python") and argv[1] == "manage.py":
        assert argv[2] in get_commands(), f"no management command {argv[2]!r}"
    elif program.startswith("python") and argv[1] == "-c":
        check_python_snippet(argv[2])
    else:
        raise AssertionError(f"no check for {argv}; teach check_program about {program!r}")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, with comments dropped and continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_cmd() -> list[str]:
    arguments = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"][-1]
    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


# --- tests -----------------------------------------------------------------------------------


def test_docker_compose_accepts_the_file_when_the_secrets_are_set(tmp_path: Path) -> None:
    result = compose_config(tmp_path, **REQUIRED_SECRETS)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(REQUIRED_SECRETS))
def test_docker_compose_refuses_the_file_and_names_a_missing_secret(
    tmp_path: Path, missing: str
) -> None:
    others = {name: value for name, value in REQUIRED_SECRETS.items() if name != missing}
    result = compose_config(tmp_path, **others)
    assert result.returncode != 0
    assert missing in result.stderr, result.stderr


def test_every_app_service_command_and_healthcheck_points_at_code_that_exists() -> None:
    services = app_services()
    assert {"migrate", "web", "worker", "beat"} <= services.keys()
    for name, spec in services.items():
        commands = [spec["command"]]
        if "healthcheck" in spec:
            commands.append(spec["healthcheck"]["test"])
        for command in commands:
            for argv in programs_in(command):
                try:
                    check_program(argv)
                except Exception as error:
                    raise AssertionError(f"service {name!r}: {argv}: {error!r}") from error


def test_web_healthcheck_asks_the_health_endpoint() -> None:
    [argv] = programs_in(compose_services()["web"]["healthcheck"]["test"])
    assert "/healthz" in argv[-1]
    assert resolve("/healthz").url_name == "healthz"


def test_every_long_running_service_has_a_healthcheck_and_one_shots_do_not_restart() -> None:
    services = compose_services()
    # A service others wait on to *complete* is a one-shot job, not something to keep alive.
    one_shots = {
        dependency
        for spec in services.values()
        for dependency, condition in (spec.get("depends_on") or {}).items()
        if condition.get("condition") == "service_completed_successfully"
    }
    assert one_shots == {"migrate"}
    for name, spec in services.items():
        if name in one_shots:
            assert spec.get("restart", "no") == "no", f"{name} would rerun forever"
        else:
            assert "healthcheck" in spec, f"{name} has no healthcheck"


def worker_queues(argv: list[str]) -> set[str] | None:
    """The queues a ``celery worker`` command consumes; None for a program that is not one."""
    if "worker" not in argv or "celery" not in argv[0]:
        return None
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}

    def listed(short: str, long: str) -> set[str] | None:
        try:
            return set(option_value(argv, short, long).split(","))
        except AssertionError:
            return None

    return (listed("-Q", "--queues") or declared) - (listed("-X", "--exclude-queues") or set())


def test_every_queue_has_a_worker_and_exports_have_one_of_their_own() -> None:
    """A queue no worker consumes would hold its tasks for ever (the sweep re-sending them)."""
    consumed: dict[str, set[str]] = {}
    for name, spec in app_services().items():
        for argv in programs_in(spec["command"]):
            queues = worker_queues(argv)
            if queues is not None:
                consumed[name] = queues
    every = set().union(*consumed.values())
    assert every == {queue.name for queue in settings.CELERY_TASK_QUEUES}
    # The export worker takes exports alone, and no other worker takes them.
    assert consumed["export-worker"] == {settings.EXPORT_QUEUE}
    assert [name for name, queues in consumed.items() if settings.EXPORT_QUEUE in queues] == [
        "export-worker"
    ]


def test_dockerfile_runs_the_same_wsgi_app_as_the_web_service_and_settings() -> None:
    [web_argv] = programs_in(compose_services()["web"]["command"])
    image_argv = dockerfile_cmd()
    assert Path(image_argv[0]).name == "gunicorn"
    assert wsgi_target(image_argv) == wsgi_target(web_argv)
    assert wsgi_target(image_argv).replace(":", ".") == settings.WSGI_APPLICATION


def test_dockerfile_keeps_no_secret_key_in_the_image_environment() -> None:
    for keyword, arguments in dockerfile_instructions():
        if keyword in {"ENV", "ARG"}:
            assert "SECRET_KEY" not in arguments, f"{keyword} {arguments}"
