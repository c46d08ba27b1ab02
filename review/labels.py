"""Reviewer labels brought in from elsewhere: validated whole, stored whole or not at all."""

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from review.models import Decision, Label, Tier, Verdict

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
            _, created = Label.objects.update_or_create(
                decision=decisions[number],
                reviewer=reviewer,
                defaults={
                    "verdict": entry["verdict"],
                    "right_tier": tiers.get(entry.get("right_tier") or ""),
                    "note": entry.get("note") or "",
                },
            )
            report.created += int(created)
            report.updated += int(not created)
    return report


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
