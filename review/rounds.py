"""Weekly review rounds: which decisions reviewers see, in what order, and who holds which.

A round covers one ISO week of traffic. It is filled with the current detector's flags of that
week by priority (confidence × dollars at stake), at most ``per_kind_cap`` of each kind, plus a
random sample of unflagged decisions so the miss rate can be estimated. A decision that has a
label or sits in an earlier round is never queued again.
"""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Max, OuterRef, Q, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from review.detection import Detector
from review.models import Decision, Flag, FlagKind, Label, QueueItem, ReviewRound


def week_start_of(moment: date) -> date:
    return moment - timedelta(days=moment.weekday())


def open_round(
    *, week_start: date | None = None, now: datetime | None = None, **options: Any
) -> tuple[ReviewRound, bool]:
    """The round for a week (by default the week before ``now``), created and filled if new.
    Returns the round and whether it was created."""
    now = now or timezone.now()
    week_start = week_start_of(week_start or (now.date() - timedelta(days=7)))
    try:
        with transaction.atomic():
            review_round = ReviewRound.objects.create(week_start=week_start, **options)
            fill(review_round)
    except IntegrityError:  # opened already, by hand or by the scheduler
        return ReviewRound.objects.get(week_start=week_start), False
    return review_round, True


def close_rounds_before(review_round: ReviewRound, *, now: datetime | None = None) -> int:
    """Close the open rounds of earlier weeks (a round closes when the next one opens).
    Returns how many were closed."""
    return ReviewRound.objects.filter(
        week_start__lt=review_round.week_start, closed_at__isnull=True
    ).update(closed_at=now or timezone.now())


def _week_bounds(review_round: ReviewRound) -> tuple[datetime, datetime]:
    start = datetime.combine(review_round.week_start, datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=7)


def fill(review_round: ReviewRound) -> int:
    """Queue the week's top flags and the random sample. Returns how many items were queued."""
    start, end = _week_bounds(review_round)
    eligible = (
        Decision.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .exclude(labels__isnull=False)
        .exclude(queue_items__isnull=False)
    )
    version = Detector.current().version
    flags = list(
        Flag.objects.filter(decision__in=eligible, detector_version=version).values(
            "pk", "decision_id", "kind", "confidence", "dollars"
        )
    )
    flags.sort(key=lambda f: (-f["confidence"] * float(f["dollars"]), f["pk"]))
    chosen: list[Any] = []
    per_kind = dict.fromkeys(FlagKind.values, 0)
    seen: set[int] = set()
    for flag in flags:
        if len(chosen) >= review_round.size:
            break
        if per_kind[flag["kind"]] >= review_round.per_kind_cap or flag["decision_id"] in seen:
            continue
        per_kind[flag["kind"]] += 1
        seen.add(flag["decision_id"])
        chosen.append(flag)
    items = [
        QueueItem(
            round=review_round,
            decision_id=f["decision_id"],
            flag_id=f["pk"],
            source=QueueItem.Source.FLAG,
            priority=f["confidence"] * float(f["dollars"]),
            position=position,
        )
        for position, f in enumerate(chosen)
    ]
    unflagged = list(
        eligible.exclude(flags__detector_version=version)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sample = random.Random(review_round.pk).sample(
        unflagged, min(review_round.sample_size, len(unflagged))
    )
    # Sampled items are interleaved at random so reviewers cannot tell them from flags.
    rng = random.Random(-review_round.pk)
    for decision_id in sample:
        items.insert(
            rng.randint(0, len(items)),
            QueueItem(round=review_round, decision_id=decision_id, source=QueueItem.Source.SAMPLE),
        )
    for position, item in enumerate(items):
        item.position = position
    QueueItem.objects.bulk_create(items)
    return len(items)


def next_item(
    *,
    review_round: ReviewRound,
    reviewer: User,
    now: datetime | None = None,
    after_position: int | None = None,
) -> QueueItem | None:
    """The reviewer's next item, locked to them: one they hold already, or the first that still
    needs a label, that they have not labelled, and that nobody else holds. With
    ``after_position`` (skipping an item) the search starts after it and wraps around."""
    now = now or timezone.now()
    after = -1 if after_position is None else after_position
    candidates = (
        QueueItem.objects.filter(round=review_round)
        .annotate(labels_given=Count("decision__labels", distinct=True))
        .filter(labels_given__lt=review_round.labels_per_item)
        .exclude(decision__labels__reviewer=reviewer)
        .filter(Q(locked_by__isnull=True) | Q(locked_until__lt=now) | Q(locked_by=reviewer))
        # What they already hold comes first, then the round's order.
        .order_by(
            Case(When(locked_by=reviewer, then=0), default=1),
            Case(When(position__gt=after, then=0), default=1),
            "position",
        )
    )
    until = now + timedelta(minutes=review_round.lock_minutes)
    for item in candidates[:20]:
        # Claimed with a conditional update: if someone else took it meanwhile, try the next.
        claimed = (
            QueueItem.objects.filter(pk=item.pk)
            .filter(Q(locked_by__isnull=True) | Q(locked_until__lt=now) | Q(locked_by=reviewer))
            .update(locked_by=reviewer, locked_until=until)
        )
        if claimed:
            # Labelled meanwhile by someone else (or by this reviewer in another tab): not
            # theirs to take after all.
            given = Label.objects.filter(decision_id=item.decision_id)
            if given.filter(reviewer=reviewer).exists() or (
                given.count() >= review_round.labels_per_item
            ):
                release(item, reviewer=reviewer)
                continue
            item.refresh_from_db()
            return item
    return None


def release(item: QueueItem, *, reviewer: User | None = None) -> None:
    """Free the item; with ``reviewer``, only if they are the one holding it."""
    held = QueueItem.objects.filter(pk=item.pk)
    if reviewer is not None:
        held = held.filter(locked_by=reviewer)
    held.update(locked_by=None, locked_until=None)


def previous_item(
    *, review_round: ReviewRound, reviewer: User, current: QueueItem | None = None
) -> QueueItem | None:
    """The item the reviewer labelled before ``current`` in this round (their latest label if
    ``current`` has none of theirs), to go back and change it."""
    labelled = (
        Label.objects.filter(reviewer=reviewer, decision__queue_items__round=review_round)
        .order_by("-created_at", "-pk")
        .values_list("decision_id", "created_at", "pk")
    )
    if current is not None:
        mine = Label.objects.filter(reviewer=reviewer, decision_id=current.decision_id).first()
        if mine is not None:
            labelled = labelled.filter(
                Q(created_at__lt=mine.created_at) | Q(created_at=mine.created_at, pk__lt=mine.pk)
            )
    found = labelled.first()
    if found is None:
        return None
    return QueueItem.objects.filter(round=review_round, decision_id=found[0]).first()


def can_label(item: QueueItem, reviewer: User, *, now: datetime | None = None) -> bool:
    """Whether the reviewer may label this item now: they hold it, nobody does, or they are
    changing their own earlier label."""
    now = now or timezone.now()
    if item.locked_by_id in (None, reviewer.pk) or (
        item.locked_until is not None and item.locked_until < now
    ):
        return True
    return Label.objects.filter(decision_id=item.decision_id, reviewer=reviewer).exists()


@dataclass(frozen=True)
class ReviewerProgress:
    reviewer: str
    labelled: int
    verdicts: dict[str, int]
    holding: int
    last_label_at: datetime | None


@dataclass(frozen=True)
class Progress:
    items: int
    done: int
    held: int
    flagged: int
    sampled: int
    reviewers: list[ReviewerProgress]
    agreement: "Agreement"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.items) if self.items else 0


def progress(review_round: ReviewRound, *, now: datetime | None = None) -> Progress:
    """How far the round is: items done (labelled by as many reviewers as the round asks),
    held right now, and each reviewer's share."""
    now = now or timezone.now()
    labels_given = (
        Label.objects.filter(decision=OuterRef("decision"))
        .values("decision")
        .annotate(n=Count("pk"))
        .values("n")
    )
    items = review_round.items.annotate(labels_given=Coalesce(Subquery(labels_given), 0))
    counts = items.aggregate(
        items=Count("pk"),
        done=Count("pk", filter=Q(labels_given__gte=review_round.labels_per_item)),
        held=Count("pk", filter=Q(locked_by__isnull=False, locked_until__gte=now)),
        flagged=Count("pk", filter=Q(source=QueueItem.Source.FLAG)),
    )
    holding = dict(
        review_round.items.filter(locked_by__isnull=False, locked_until__gte=now)
        .values("locked_by__username")
        .annotate(n=Count("pk"))
        .values_list("locked_by__username", "n")
    )
    per_reviewer: dict[str, dict[str, Any]] = {}
    for username, verdict, n, last in (
        Label.objects.filter(decision__queue_items__round=review_round)
        .values("reviewer__username", "verdict")
        .annotate(n=Count("pk"), last=Max("created_at"))
        .values_list("reviewer__username", "verdict", "n", "last")
        .order_by("reviewer__username")
    ):
        entry = per_reviewer.setdefault(username, {"verdicts": {}, "last": last})
        entry["verdicts"][verdict] = n
        entry["last"] = max(entry["last"], last)
    reviewers = [
        ReviewerProgress(
            reviewer=username,
            labelled=sum(entry["verdicts"].values()),
            verdicts=entry["verdicts"],
            holding=holding.get(username, 0),
            last_label_at=entry["last"],
        )
        for username, entry in per_reviewer.items()
    ]
    reviewers += [
        ReviewerProgress(reviewer=name, labelled=0, verdicts={}, holding=n, last_label_at=None)
        for name, n in holding.items()
        if name not in per_reviewer
    ]
    return Progress(
        items=counts["items"],
        done=counts["done"],
        held=counts["held"],
        flagged=counts["flagged"],
        sampled=counts["items"] - counts["flagged"],
        reviewers=reviewers,
        agreement=agreement(review_round),
    )


@dataclass(frozen=True)
class Agreement:
    items: int
    kappa: float | None


def agreement(review_round: ReviewRound) -> Agreement:
    """Cohen's kappa between the first two verdicts on each doubly-labelled item."""
    pairs = []
    decision_ids = review_round.items.values_list("decision_id", flat=True)
    by_decision: dict[int, list[str]] = {}
    for decision_id, verdict in (
        Label.objects.filter(decision_id__in=decision_ids)
        .order_by("decision_id", "created_at", "pk")
        .values_list("decision_id", "verdict")
    ):
        by_decision.setdefault(decision_id, []).append(verdict)
    pairs = [verdicts[:2] for verdicts in by_decision.values() if len(verdicts) >= 2]
    if not pairs:
        return Agreement(items=0, kappa=None)
    first, second = zip(*pairs, strict=True)
    if len(set(first) | set(second)) == 1:
        return Agreement(items=len(pairs), kappa=1.0)  # everyone agreed on the one verdict used
    from sklearn.metrics import cohen_kappa_score  # see review.hashed_text on loading sklearn

    return Agreement(items=len(pairs), kappa=round(float(cohen_kappa_score(first, second)), 3))
