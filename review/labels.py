"""Reviewer labels: given on the review page or through the API, or brought in from elsewhere;
every one given or changed leaves a row in the audit trail."""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F

from review import rollups
from review.models import Decision, Label, LabelEvent, QueueItem, Tier, Verdict

LINE_FIELDS = {"event_id", "verdict", "right_tier", "reviewer", "note", "gateway"}


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    new_reviewers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def import_labels(lines: list[str]) -> ImportReport:
    """Import JSON lines ``{event_id, verdict, right_tier, reviewer, note[, gateway]}``.

    Every line is checked first; if any is wrong (bad JSON, an unknown event id, verdict or
    tier), nothing is stored and every problem is reported with its line number. A reviewer's
    existing label on a decision is replaced, as re-labelling in the app would.
    """
    report = ImportReport()
    tiers = {tier.name: tier for tier in Tier.objects.all()}
    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            report.errors.append(f"line {number}: not JSON ({error.msg})")
            continue
        problem = _check_entry(entry, tiers)
        if problem:
            report.errors.append(f"line {number}: {problem}")
        else:
            parsed.append((number, entry))
    decisions = _decisions_for(parsed, report)
    if report.errors:
        return report
    users = get_user_model()
    with transaction.atomic():
        for number, entry in parsed:
            reviewer, created_user = users.objects.get_or_create(username=entry["reviewer"])
            if created_user:
                reviewer.set_unusable_password()
                reviewer.save(update_fields=["password"])
                report.new_reviewers.append(reviewer.get_username())
            _, created = record_label(
                decision=decisions[number],
                reviewer=reviewer,
                verdict=entry["verdict"],
                right_tier=tiers.get(entry.get("right_tier") or ""),
                note=entry.get("note") or "",
                source=LabelEvent.Source.IMPORT,
            )
            report.created += int(created)
            report.updated += int(not created)
    return report


class ChangeRefused(Exception):
    """The reviewer has a label on the decision already and may not change it."""

    def __init__(self) -> None:
        super().__init__(
            "You have labelled this decision already, and your role may give labels but not "
            "change them (review.change_label)."
        )


def record_label(
    *,
    decision: Decision,
    reviewer: Any,
    verdict: str,
    right_tier: Tier | None,
    note: str,
    source: str,
    may_change: bool = True,
) -> tuple[Label, bool]:
    """Give or change ``reviewer``'s label on ``decision``, and write the audit row.
    Returns the label and whether it is new. Saving the same label again writes nothing.
    Raises ``ChangeRefused`` for a different label where ``may_change`` is false."""
    with transaction.atomic():
        # The row lock makes two quick saves of the same label (a double submit) audit in order,
        # and the check for an existing label part of the same step as the save.
        label = (
            Label.objects.select_for_update().filter(decision=decision, reviewer=reviewer).first()
        )
        if label is None:
            label = Label.objects.create(
                decision=decision,
                reviewer=reviewer,
                verdict=verdict,
                right_tier=right_tier,
                note=note,
            )
            _audit(label, LabelEvent.Action.CREATED, source, previous=None)
            rollups.note_days([rollups.utc_day(decision.occurred_at)])
            return label, True
        previous = {
            "verdict": label.verdict,
            "right_tier": label.right_tier.name if label.right_tier else None,
            "note": label.note,
        }
        current = {"verdict": verdict, "right_tier": right_tier.name if right_tier else None}
        if previous == {**current, "note": note}:
            return label, False
        if not may_change:
            raise ChangeRefused
        label.verdict, label.right_tier, label.note = verdict, right_tier, note
        label.save(update_fields=["verdict", "right_tier", "note", "updated_at"])
        _audit(label, LabelEvent.Action.CHANGED, source, previous=previous)
        rollups.note_days([rollups.utc_day(decision.occurred_at)])
        return label, False


def _audit(label: Label, action: str, source: str, *, previous: dict[str, Any] | None) -> None:
    LabelEvent.objects.create(
        label=label,
        decision_id=label.decision_id,
        reviewer_id=label.reviewer_id,
        action=action,
        source=source,
        verdict=label.verdict,
        right_tier=label.right_tier,
        note=label.note,
        previous=previous,
    )


def _check_entry(entry: Any, tiers: dict[str, Tier]) -> str | None:
    if not isinstance(entry, dict):
        return "must be a JSON object"
    unknown = sorted(set(entry) - LINE_FIELDS)
    if unknown:
        return f"unknown field {', '.join(unknown)}"
    for name in ("event_id", "verdict", "reviewer"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            return f"{name} is required"
    if entry["verdict"] not in Verdict.values:
        return f"verdict must be one of {', '.join(Verdict.values)}; got {entry['verdict']!r}"
    right_tier = entry.get("right_tier")
    if right_tier not in (None, "") and right_tier not in tiers:
        return f"right_tier must be one of {', '.join(tiers)}; got {right_tier!r}"
    return None


def _decisions_for(
    parsed: list[tuple[int, dict[str, Any]]], report: ImportReport
) -> dict[int, Decision]:
    event_ids = {entry["event_id"] for _, entry in parsed}
    by_event: dict[str, list[Decision]] = {}
    for decision in Decision.objects.filter(event_id__in=event_ids).select_related("gateway"):
        by_event.setdefault(decision.event_id, []).append(decision)
    found = {}
    for number, entry in parsed:
        candidates = [
            d
            for d in by_event.get(entry["event_id"], [])
            if not entry.get("gateway") or d.gateway.name == entry["gateway"]
        ]
        if not candidates:
            report.errors.append(f"line {number}: unknown event id {entry['event_id']!r}")
        elif len(candidates) > 1:
            gateways = ", ".join(sorted(d.gateway.name for d in candidates))
            report.errors.append(
                f"line {number}: event id {entry['event_id']!r} exists at several gateways "
                f"({gateways}); add a gateway field"
            )
        else:
            found[number] = candidates[0]
    return found


@dataclass(frozen=True)
class VisibleLabels:
    labels: list[Label]
    # True when other reviewers' labels were held back from this user (blind labelling).
    hidden: bool


def blind_decision_ids(decision_ids: Iterable[int]) -> set[int]:
    """Of these decisions, those whose labels are given blind: they sit in an open round that
    wants two labels per item, and have fewer labels than that so far."""
    return set(
        QueueItem.objects.filter(
            decision_id__in=list(decision_ids),
            round__closed_at__isnull=True,
            round__labels_per_item__gt=1,
        )
        .annotate(labels_given=Count("decision__labels", distinct=True))
        .filter(labels_given__lt=F("round__labels_per_item"))
        .values_list("decision_id", flat=True)
    )


def visible_labels(
    decision: Decision, user: Any, *, blind_ids: set[int] | None = None
) -> VisibleLabels:
    """The labels on ``decision`` that ``user`` may see. Everyone sees their own label. A user
    who may label and has not labelled a decision under blind labelling (see
    ``blind_decision_ids``) sees nobody else's: a reviewer never sees the other reviewer's label
    before giving theirs. ``hidden`` is set whether or not anyone has labelled yet, so it does
    not give away that someone has. Pass ``blind_ids`` when showing many decisions, to ask the
    database once."""
    labels = list(decision.labels.all())
    own = [label for label in labels if label.reviewer_id == user.pk]
    if own or not user.has_perm("review.add_label"):
        return VisibleLabels(labels=labels, hidden=False)
    blind = blind_ids if blind_ids is not None else blind_decision_ids([decision.pk])
    if decision.pk in blind:
        return VisibleLabels(labels=[], hidden=True)
    return VisibleLabels(labels=labels, hidden=False)


def all_blind() -> set[int]:
    """Every decision labelled blind right now, whoever looks (for exports, made for no one
    in particular)."""
    waiting = QueueItem.objects.filter(
        round__closed_at__isnull=True, round__labels_per_item__gt=1
    ).values_list("decision_id", flat=True)
    return blind_decision_ids(waiting)


def blind_to(user: Any) -> set[int]:
    """Decisions whose other labels ``user`` may not see yet, anywhere (audit trail, similar
    prompts, explorer filters, policy examples): blind decisions of open rounds that the user
    may label and has not."""
    if not user.has_perm("review.add_label"):
        return set()
    labelled = Label.objects.filter(reviewer=user).values_list("decision_id", flat=True)
    return all_blind() - set(labelled)
