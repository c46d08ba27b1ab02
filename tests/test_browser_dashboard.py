"""The dashboard in Debian's Chromium (headless, through Playwright) against the app under
gunicorn: every chart drawn by the vendored plotly.js with no script or console error, a chart's
link and a click on a bar both lead into the explorer with the chart's filters, and the charts
draw again when htmx swaps the page in. A screenshot goes to tests/screenshots/dashboard.png.
"""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import Page, expect

from review import roles

from . import browser
from .browser import PASSWORD, Browsing, login, screenshot_path
from .test_rollups import FIRST, LAST, rob, traffic  # noqa: F401

app_server = browser.app_server
playwright = browser.playwright
chromium = browser.chromium
browsing = browser.browsing

RANGE = f"since={FIRST.isoformat()}&until={LAST.isoformat()}"
CHARTS = ["cost", "calls", "flags", "confusion", "difficulty", "waste_model", "waste_category"]
CHARTS += ["latency"]


def make_viewer(username: str) -> User:
    roles.ensure_roles()
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name=roles.VIEWER))
    return user


def expect_every_chart_drawn(page: Page) -> None:
    """Each chart's plot element exists, plotly.js finished drawing it, and it holds traces."""
    for key in CHARTS:
        plot = page.locator(f'#chart-{key} .plot[data-chart="{key}"]')
        expect(plot).to_have_attribute("data-rendered", "true", timeout=20_000)
        expect(plot.locator("svg.main-svg").first).to_be_visible()
        traces = plot.locator(".cartesianlayer .trace, .heatmaplayer .hm")
        assert traces.count() > 0, f"chart {key} has no plot elements"


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_draws_every_chart_and_leads_into_the_explorer(
    browsing: Browsing,
    traffic,  # noqa: F811
) -> None:
    make_viewer("vera")
    page = browsing.new_page()
    login(page, "vera", PASSWORD)
    page.goto(f"/?{RANGE}")
    expect(page.locator("h1")).to_have_text("Routing dashboard")
    expect(page.locator('[data-kpi="decisions"] .value')).to_have_text("260")
    expect_every_chart_drawn(page)
    page.screenshot(path=screenshot_path("dashboard.png"), full_page=True)

    # A chart's link: the explorer with the chart's filters.
    page.locator("#chart-calls a.explore").click()
    expect(page).to_have_url(re.compile(r"/decisions/\?since=2026-11-23T00%3A00%3A00"))
    expect(page.locator("table.decisions tbody tr").first).to_be_visible()
    query = parse_qs(urlsplit(page.url).query)
    assert query["since"] == ["2026-11-23T00:00:00"] and query["until"] == ["2026-12-03T00:00:00"]

    # Back on the dashboard through htmx (a boosted link swaps the body): drawn again.
    page.evaluate(
        """(url) => {
            const link = document.createElement("a");
            link.href = url; link.id = "back-to-dashboard"; link.textContent = "dashboard";
            document.querySelector("main").append(link);
            htmx.process(link);
        }""",
        f"/?{RANGE}&gateway=prod-proxy",
    )
    page.locator("#back-to-dashboard").click()
    expect(page).to_have_url(re.compile(r"/\?since=.*gateway=prod-proxy$"))
    expect_every_chart_drawn(page)

    # A click on a bar of the cost chart: that tier's decisions of that day.
    page.locator("#chart-cost").scroll_into_view_if_needed()
    bars = page.locator("#chart-cost .plot .cartesianlayer .trace.bars .point path")
    boxes = [box for box in (bar.bounding_box() for bar in bars.all()) if box is not None]
    box = max(boxes, key=lambda b: b["height"])  # the tallest bar: easy to hit
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    # plotly.js picks the point on hover; the click then goes to the hovered point.
    expect(page.locator("#chart-cost .hoverlayer .hovertext").first).to_be_visible()
    page.mouse.click(x, y)
    expect(page).to_have_url(re.compile(r"/decisions/\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["gateway"] == ["prod-proxy"] and "tier" in query
    since, until = query["since"][0], query["until"][0]
    assert since.endswith("T00:00:00") and until.endswith("T00:00:00")
    rows = page.locator("table.decisions tbody tr")
    expect(rows.first).to_be_visible()
    tier = query["tier"][0]
    for row in rows.all():
        expect(row).to_contain_text(tier)

    browsing.watched.assert_clean()
