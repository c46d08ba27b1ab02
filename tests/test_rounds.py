"""Weekly rounds: what is queued, in what order, who holds what, and how much reviewers agree."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from review import rounds
from review.models import Flag, Label, QueueItem

WEEK = date(2026, 11, 23)  # a Monday
IN_WEEK = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture
def flagged(make_decision):
    """Build a decision in the week with a flag of the current detector version."""

    def build(kind="overkill", confidence=0.8, dollars="0.01", **fields):
        decision = make_decision(occurred_at=IN_WEEK, **fields)
        Flag.objects.create(
            decision=decision,
            kind=kind,
            confidence=confidence,
            dollars=Decimal(dollars),
            reasons=["test"],
            detector_version="heuristic-r1",
        )
        return decision

    return build


def flag_items(review_round) -> list[int]:
    return list(
        review_round.items.filter(source="flag")
        .order_by("position")
        .values_list("decision_id", flat=True)
    )


def test_flags_are_queued_by_confidence_times_dollars(flagged):
    low = flagged(confidence=0.9, dollars="0.001")
    high = flagged(confidence=0.6, dollars="0.10")
    middle = flagged(confidence=0.7, dollars="0.01")
    review_round, created = rounds.open_round(week_start=WEEK, sample_size=0)
    assert created and str(review_round) == "2026-W48"
    assert flag_items(review_round) == [high.pk, middle.pk, low.pk]


def test_each_kind_is_capped_and_the_round_sized(flagged):
    for _ in range(5):
        flagged(kind="overkill")
        flagged(kind="underpowered")
    review_round, _ = rounds.open_round(week_start=WEEK, size=6, per_kind_cap=2, sample_size=0)
    kinds = list(review_round.items.values_list("flag__kind", flat=True))
    assert sorted(kinds) == ["overkill", "overkill", "underpowered", "underpowered"]


def test_a_random_sample_of_unflagged_decisions_is_mixed_in(flagged, make_decision):
    flagged()
    unflagged = [make_decision(occurred_at=IN_WEEK).pk for _ in range(10)]
    make_decision(occurred_at=IN_WEEK + timedelta(days=30))  # another week: never queued
    review_round, _ = rounds.open_round(week_start=WEEK, sample_size=4)
    sampled = list(review_round.items.filter(source="sample").values_list("decision_id", flat=True))
    assert len(sampled) == 4 and set(sampled) <= set(unflagged)
    assert sorted(review_round.items.values_list("position", flat=True)) == list(range(5))


def test_labelled_or_already_queued_decisions_are_never_queued_again(flagged, reviewer):
    labelled = flagged()
    queued = flagged()
    Label.objects.create(decision=labelled, reviewer=reviewer, verdict="correct")
    review_round, _ = rounds.open_round(week_start=WEEK, sample_size=0)
    assert flag_items(review_round) == [queued.pk]
    assert rounds.fill(review_round) == 0  # filling again adds nothing
    again, created = rounds.open_round(week_start=WEEK)
    assert (again, created) == (review_round, False)


def test_two_reviewers_never_hold_the_same_item_and_locks_expire(flagged, reviewer):
    flagged(), flagged()
    otto = User.objects.create_user("otto")
    review_round, _ = rounds.open_round(week_start=WEEK, sample_size=0, lock_minutes=15)
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    first = rounds.next_item(review_round=review_round, reviewer=reviewer, now=now)
    second = rounds.next_item(review_round=review_round, reviewer=otto, now=now)
    assert first and second and first.pk != second.pk
    assert rounds.next_item(review_round=review_round, reviewer=reviewer, now=now) == first
    assert (
        rounds.next_item(
            review_round=review_round, reviewer=User.objects.create_user("eve"), now=now
        )
        is None
    )
    later = now + timedelta(minutes=16)
    taken_over = rounds.next_item(
        review_round=review_round, reviewer=User.objects.create_user("max"), now=later
    )
    assert taken_over is not None and taken_over.locked_by.username == "max"


def test_a_reviewer_gets_the_item_they_hold_before_a_new_one(flagged, reviewer):
    flagged(confidence=0.9), flagged(confidence=0.5), flagged(confidence=0.1)
    review_round, _ = rounds.open_round(week_start=WEEK, sample_size=0)
    second = review_round.items.get(position=1)
    QueueItem.objects.filter(pk=second.pk).update(
        locked_by=reviewer, locked_until=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert rounds.next_item(review_round=review_round, reviewer=reviewer) == second
    assert QueueItem.objects.filter(locked_by=reviewer).count() == 1


def test_with_two_labels_per_item_each_reviewer_labels_once(flagged, reviewer):
    decision = flagged()
    otto = User.objects.create_user("otto")
    review_round, _ = rounds.open_round(week_start=WEEK, sample_size=0, labels_per_item=2)
    item = rounds.next_item(review_round=review_round, reviewer=reviewer)
    Label.objects.create(decision=decision, reviewer=reviewer, verdict="correct")
    rounds.release(item)
    assert rounds.next_item(review_round=review_round, reviewer=reviewer) is None
    assert rounds.next_item(review_round=review_round, reviewer=otto) == item
    Label.objects.create(decision=decision, reviewer=otto, verdict="correct")
    rounds.release(item)
    assert (
        rounds.next_item(review_round=review_round, reviewer=User.objects.create_user("eve"))
        is None
    )


def test_agreement_is_cohens_kappa_on_doubly_labelled_items(flagged, reviewer):
    otto = User.objects.create_user("otto")
    verdicts = [
        ("correct", "correct"),
        ("correct", "should_be_cheaper"),
        ("should_be_cheaper", "should_be_cheaper"),
        ("should_be_cheaper", "should_be_cheaper"),
    ]
    decisions = [flagged() for _ in verdicts]
    review_round, _ = rounds.open_round(week_start=WEEK, sample_size=0, labels_per_item=2)
    for decision, (a, b) in zip(decisions, verdicts, strict=True):
        Label.objects.create(decision=decision, reviewer=reviewer, verdict=a)
        Label.objects.create(decision=decision, reviewer=otto, verdict=b)
    # Observed agreement 3/4; by chance (2/4 × 1/4) + (2/4 × 3/4) = 1/2; kappa = 0.25 / 0.5.
    assert rounds.agreement(review_round) == rounds.Agreement(items=4, kappa=0.5)


def test_the_open_round_command(flagged):
    flagged()
    out = StringIO()
    call_command("open_round", "--week", "2026-11-25", "--sample-size", "0", stdout=out)
    call_command("open_round", "--week", "2026-11-23", stdout=out)
    assert out.getvalue().splitlines() == [
        "Opened round 2026-W48 with 1 items.",
        "Already open: round 2026-W48 with 1 items.",
    ]
    assert QueueItem.objects.count() == 1
