"""The pages as a person uses them: Debian's Chromium (headless, through Playwright) against the
app served by gunicorn on the test database. Logging in, working through a review round with the
keyboard alone, two reviewers sharing a round, and untrusted prompt text shown as text.

Every test also asserts that no page had an uncaught script error, a console error or a dialog.
Screenshots go to tests/screenshots/ (kept by CI as artefacts of the run).
"""

import re
from collections.abc import Callable
from datetime import date

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import Page, expect

from review import roles
from review.models import Decision, Label, LabelEvent, QueueItem, ReviewRound

from . import browser
from .browser import PASSWORD, Browsing, login, screenshot_path

# The browser fixtures, shared from tests/browser.py.
app_server = browser.app_server
playwright = browser.playwright
chromium = browser.chromium
browsing = browser.browsing

DONE = "Nothing left for you in this round"
# The verdict each number key chooses on the case page, in the form's order.
VERDICT_KEYS = {
    "1": "correct",
    "2": "should_be_cheaper",
    "3": "should_be_stronger",
    "4": "no_model_fits",
    "5": "unsure",
}


def make_reviewer(username: str) -> User:
    roles.ensure_roles()
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name=roles.REVIEWER))
    return user


def make_round(decisions: list[Decision]) -> ReviewRound:
    review_round = ReviewRound.objects.create(
        week_start=date(2026, 11, 30), labels_per_item=1, lock_minutes=15
    )
    for position, decision in enumerate(decisions):
        QueueItem.objects.create(
            round=review_round, decision=decision, source="flag", position=position
        )
    return review_round


def wait_for_item(page: Page, round_id: int, *, previous: int | None = None) -> int | None:
    """Wait until the page shows a queue item other than ``previous`` (a full load or an htmx
    swap), or the round's "nothing left" page. Returns the item's id from the URL, or None."""
    page.wait_for_function(
        """([previous, done]) => {
            const item = document.querySelector('#case[data-item-id]');
            if (item) return item.dataset.itemId !== previous;
            return document.body !== null && document.body.innerText.includes(done);
        }""",
        arg=[str(previous or ""), DONE],
    )
    case = page.locator("#case[data-item-id]")
    if case.count() == 0:
        expect(page.get_by_text(DONE)).to_be_visible()
        return None
    shown = case.get_attribute("data-item-id")
    expect(page).to_have_url(re.compile(rf"/review/{round_id}/items/{shown}$"))
    match = re.search(rf"/review/{round_id}/items/(\d+)$", page.url)
    assert match is not None, page.url
    return int(match.group(1))


def choose_verdict_and_note(page: Page, key: str, note: str) -> None:
    """Press ``key`` for the verdict, ``n`` to write the note, Escape to leave the note."""
    page.keyboard.press(key)
    verdict = page.locator(f"form#label-form input[name=verdict][value={VERDICT_KEYS[key]}]")
    expect(verdict).to_be_checked()
    note_box = page.locator("form#label-form textarea#id_note[name=note]")
    page.keyboard.press("n")
    expect(note_box).to_be_focused()
    page.keyboard.type(note)
    expect(note_box).to_have_value(note)
    page.keyboard.press("Escape")
    expect(note_box).not_to_be_focused()
    # Keys typed into the note chose nothing: the verdict is still the one picked.
    expect(verdict).to_be_checked()


@pytest.mark.django_db(transaction=True)
def test_logging_in_with_a_wrong_password_fails_and_the_right_one_shows_the_user_in_the_header(
    browsing: Browsing,
) -> None:
    make_reviewer("rita")
    page = browsing.new_page()

    login(page, "rita", "not the password")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.locator(".error").first).to_contain_text("didn't match")

    login(page, "rita", PASSWORD)
    expect(page).to_have_url(f"{browsing.base_url}/")
    header = page.locator("header")
    expect(header).to_contain_text("rita")
    expect(header.get_by_role("button", name=re.compile("Log out"))).to_be_visible()
    browsing.watched.assert_clean()


def test_an_anonymous_visit_to_the_explorer_goes_to_the_login_page(browsing: Browsing) -> None:
    page = browsing.new_page()
    page.goto("/decisions/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/decisions/$"))
    expect(page.locator("input[name=username]")).to_be_visible()
    expect(page.locator("input[name=password]")).to_be_visible()
    browsing.watched.assert_clean()


@pytest.mark.django_db(transaction=True)
def test_a_reviewer_works_through_a_round_with_the_keyboard_alone(
    browsing: Browsing, make_decision: Callable[..., Decision]
) -> None:
    rita = make_reviewer("rita")
    prompts = [
        "hi",
        "Prove that there are infinitely many primes, then formalise the proof in Lean 4.",
        "What are your support hours?",
        "Translate 'good morning' into French.",
        "Summarise this 40-page contract and list every indemnity clause.",
    ]
    decisions = [make_decision(prompt_text=prompt) for prompt in prompts]
    review_round = make_round(decisions)
    keys = ["2", "3", "1", "4", "5"]  # every verdict once
    notes = [
        "A greeting: the small tier does it.",
        "Proofs need the strong tier; 1 try is not enough?",
        "Fine as routed.",
        "Nothing in the catalog translates well enough (j/k).",
        "Can't tell from the excerpt.",
    ]

    page = browsing.new_page()
    login(page, "rita", PASSWORD)
    round_page = page.goto(f"/review/{review_round.pk}/")
    assert round_page is not None and round_page.ok, round_page
    expect(page.locator("main")).to_be_visible()
    page.screenshot(path=screenshot_path("queue.png"), full_page=True)

    page.goto(f"/review/{review_round.pk}/next")
    item = wait_for_item(page, review_round.pk)
    given: dict[int, tuple[str, str]] = {}
    stronger = None  # the decision given a right tier by key
    for step, (key, note) in enumerate(zip(keys, notes, strict=True)):
        assert item is not None, f"the round ended after {step} labels"
        decision_id = int(page.locator("#case").get_attribute("data-decision-id") or 0)
        assert decision_id not in given, "an item already labelled came back"
        choose_verdict_and_note(page, key, note)
        if VERDICT_KEYS[key] == "should_be_stronger":
            # Shift+number picks the right tier, cheapest first: the third is "large".
            page.keyboard.press("Shift+Digit3")
            chosen_tier = page.locator("form#label-form select[name=right_tier] option:checked")
            expect(chosen_tier).to_have_text(re.compile(r"^\s*large\b"))
            stronger = decision_id
        if step == 0:
            page.screenshot(path=screenshot_path("case.png"), full_page=True)
        given[decision_id] = (VERDICT_KEYS[key], note)
        page.keyboard.press("Enter")
        labelled = item
        item = wait_for_item(page, review_round.pk, previous=labelled)

        if step == 0:
            assert item is not None
            # ? opens the shortcuts dialog and closes it again.
            shortcuts = page.locator("dialog#shortcuts")
            expect(shortcuts).to_be_hidden()
            page.keyboard.press("?")
            expect(shortcuts).to_be_visible()
            page.keyboard.press("?")
            expect(shortcuts).to_be_hidden()
            # k goes back to the item just labelled, its saved label shown.
            held = item
            page.keyboard.press("k")
            assert wait_for_item(page, review_round.pk, previous=held) == labelled
            form = page.locator("form#label-form")
            expect(form.locator(f"input[name=verdict][value={VERDICT_KEYS[key]}]")).to_be_checked()
            expect(form.locator("textarea#id_note")).to_have_value(note)
            # j goes on, to the item still held.
            page.keyboard.press("j")
            item = wait_for_item(page, review_round.pk, previous=labelled)
            assert item == held

    assert item is None
    expect(page.get_by_text(DONE)).to_be_visible()

    assert set(given) == {decision.pk for decision in decisions}
    labels = {
        label.decision_id: (label.verdict, label.note)
        for label in Label.objects.filter(reviewer=rita)
    }
    assert labels == given
    assert Label.objects.get(decision_id=stronger).right_tier.name == "large"
    assert Label.objects.count() == len(decisions)
    events = list(LabelEvent.objects.filter(reviewer=rita))
    assert sorted(event.decision_id for event in events) == sorted(given)
    for event in events:
        assert (event.action, event.source) == ("created", "review")
        assert (event.verdict, event.note) == given[event.decision_id]
    assert not QueueItem.objects.filter(round=review_round, locked_by__isnull=False).exists()
    browsing.watched.assert_clean()


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_on_the_same_round_never_hold_the_same_item(
    browsing: Browsing, make_decision: Callable[..., Decision]
) -> None:
    reviewers = {name: make_reviewer(name) for name in ("rita", "remy")}
    decisions = [make_decision(prompt_text=f"Question number {n}") for n in range(8)]
    review_round = make_round(decisions)
    pages = {}
    for name in reviewers:
        pages[name] = browsing.new_page()
        login(pages[name], name, PASSWORD)

    # Each move: open the round's "next" again (no label given), or skip with the j key.
    moves = [
        ("rita", "next"),
        ("remy", "next"),
        ("rita", "next"),
        ("remy", "next"),
        ("remy", "j"),
        ("rita", "j"),
        ("rita", "next"),
        ("remy", "j"),
        ("rita", "j"),
        ("remy", "next"),
        ("rita", "j"),
        ("remy", "j"),
        ("rita", "j"),
        ("remy", "next"),
    ]
    held: dict[str, int] = {}
    for number, (name, move) in enumerate(moves):
        page = pages[name]
        if move == "next":
            page.goto(f"/review/{review_round.pk}/next")
            item = wait_for_item(page, review_round.pk)
            if name in held:
                assert item == held[name], f"move {number}: {name} lost the item they held"
        else:
            page.keyboard.press("j")
            item = wait_for_item(page, review_round.pk, previous=held[name])
        assert item is not None, f"move {number}: {name} got nothing"
        held[name] = item
        assert len(set(held.values())) == len(held), f"move {number}: both hold {item}: {held}"
        locks = {
            who: set(
                QueueItem.objects.filter(round=review_round, locked_by=user).values_list(
                    "pk", flat=True
                )
            )
            for who, user in reviewers.items()
        }
        for who, item_id in held.items():
            assert locks[who] == {item_id}, f"move {number}: {who} holds {locks[who]} in the DB"
    assert not Label.objects.exists()
    browsing.watched.assert_clean()


XSS = (
    "Ignore the above. <script>window.__xss=1</script>\n"
    '<img src=x onerror="window.__xss=2">\n'
    '<a href="javascript:window.__xss=3">click</a>\n'
    "[x](javascript:window.__xss=4)"
)
INERT_CHECK = """() => ({
    xss: typeof window.__xss,
    javascriptLinks: [...document.querySelectorAll('a')].filter(
        (a) => a.protocol === 'javascript:'
            || (a.getAttribute('href') || '').trim().toLowerCase().startsWith('javascript:')
    ).length,
    handlers: document.querySelectorAll('[onerror], [onclick], [onload]').length,
    planted: [...document.querySelectorAll('script')].filter(
        (s) => s.textContent.includes('__xss')
    ).length,
})"""
INERT = {"xss": "undefined", "javascriptLinks": 0, "handlers": 0, "planted": 0}


def click_every_link_in(page: Page, selector: str) -> None:
    """Click each link inside ``selector``; come back if one leaves the page."""
    url = page.url
    for index in range(page.locator(f"{selector} a").count()):
        page.locator(f"{selector} a").nth(index).click()
        page.wait_for_load_state()
        assert page.evaluate(INERT_CHECK) == INERT
        if page.url != url:
            page.goto(url)


@pytest.mark.django_db(transaction=True)
def test_untrusted_prompt_text_is_shown_as_text_and_runs_nothing(
    browsing: Browsing, make_decision: Callable[..., Decision]
) -> None:
    make_reviewer("rita")
    decision = make_decision(prompt_text=XSS, response_excerpt=f"Sure. {XSS}")
    innocent = make_decision(prompt_text="An innocent question")
    page = browsing.new_page()
    login(page, "rita", PASSWORD)

    page.goto("/decisions/?q=script")
    row_link = page.locator(f'a[href="/decisions/{decision.pk}"]').first
    expect(row_link).to_be_visible()
    expect(page.locator(f'a[href="/decisions/{innocent.pk}"]')).to_have_count(0)
    expect(page.locator("main")).to_contain_text("<script>window.__xss=1</script>")
    assert page.evaluate(INERT_CHECK) == INERT
    row_link.click()

    expect(page).to_have_url(re.compile(rf"/decisions/{decision.pk}$"))
    prompt, response = page.locator("#prompt"), page.locator("#response")
    for shown in (prompt, response):
        expect(shown).to_be_visible()
        expect(shown).to_contain_text("<script>window.__xss=1</script>")
        expect(shown).to_contain_text('<img src=x onerror="window.__xss=2">')
    assert page.evaluate(INERT_CHECK) == INERT
    page.screenshot(path=screenshot_path("untrusted-prompt.png"), full_page=True)
    click_every_link_in(page, "#prompt")
    click_every_link_in(page, "#response")
    assert page.evaluate(INERT_CHECK) == INERT
    browsing.watched.assert_clean()


@pytest.mark.django_db(transaction=True)
def test_a_refused_save_says_why_on_the_page(
    browsing: Browsing, make_decision: Callable[..., Decision]
) -> None:
    make_reviewer("rita")
    remy = make_reviewer("remy")
    review_round = make_round([make_decision(prompt_text="hi")])
    page = browsing.new_page()
    login(page, "rita", PASSWORD)
    page.goto(f"/review/{review_round.pk}/next")
    wait_for_item(page, review_round.pk)
    # Rita's lock ran out and Remy took the item meanwhile.
    QueueItem.objects.update(locked_by=remy)

    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("remy holds this item now")
    assert not Label.objects.exists()
    # The 400 is the only complaint in the console; nothing else went wrong.
    assert all("400" in error for error in browsing.watched.console_errors)
    assert browsing.watched.page_errors == []
