"""Browser tests' helpers: the app served by gunicorn on the test database, Debian's Chromium
driven by Playwright (headless, never a downloaded browser), a login through the real form, and
pages that record every script error, console error and dialog so tests can assert there were
none.

Fixtures here are imported by the browser test modules; the data each test builds must be
committed (``transaction=True``) for the server process to see it.
"""

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from . import processes

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = processes.ROOT / "tests" / "screenshots"
PASSWORD = "correct horse battery"
# Everything the pages load must come from the app itself: no CDN, nothing off this machine.
NOT_THE_APP = re.compile(r"^(?!http://127\.0\.0\.1:\d+/)[a-z]+://")


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name


@pytest.fixture(scope="module")
def app_server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn serving the app on the test database as in production (DEBUG off, WhiteNoise's
    manifest of collected static files), except that cookies go over plain http on loopback."""
    static_root = tmp_path_factory.mktemp("static")
    env = processes.app_env(
        SECRET_KEY="browser-test-only",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_COOKIES="0",
        STATIC_ROOT=str(static_root),
    )
    env.pop("DEBUG", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=processes.ROOT,
        env=env,
        check=True,
    )
    server, base = processes.start_gunicorn(env, workers=2)
    yield base
    processes.stop(server)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Playwright's sync API keeps its asyncio loop registered as running in this thread, which
    # Django takes for an async context and refuses ORM calls in. The tests' ORM calls are plain
    # sync code between browser steps, so Django's guard is switched off in this process only
    # (app_server keeps it out of gunicorn's environment).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as driver:
            yield driver


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield browser
    browser.close()


@dataclass
class Watched:
    """What went wrong in a browser context's pages: uncaught script errors, console errors,
    and dialogs (alert/confirm/prompt) that were opened (and dismissed)."""

    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} at {message.location}")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        with contextlib.suppress(PlaywrightError):  # closed along with its page
            dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.page_errors == [], self.page_errors
        assert self.console_errors == [], self.console_errors
        assert self.dialogs == [], self.dialogs


class Browsing:
    """Opens watched browser contexts on the app; closes them and checks them at the end."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.watched = Watched()
        self.contexts: list[BrowserContext] = []

    def new_page(self) -> Page:
        """A page in a fresh context (own cookies, so own session)."""
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        context.route(NOT_THE_APP, lambda route: route.abort())
        self.contexts.append(context)
        return self.watched.watch(context.new_page())

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(chromium: Browser, app_server: str) -> Iterator[Browsing]:
    """Fresh browser contexts for one test, closed after it. Tests end with
    ``browsing.watched.assert_clean()``."""
    session = Browsing(chromium, app_server)
    yield session
    session.close()


def login(page: Page, username: str, password: str) -> None:
    """Log in through the real form at /accounts/login/, as a person would (typing, Enter)."""
    page.goto("/accounts/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("input[name=password]").press("Enter")
