"""Routing policies: rules a gateway applies by itself, on signals it has (the router's own score
and category, the prompt's words and length), never on our internal difficulty estimate.

A policy's rules, as stored in ``PolicyVersion.rules``::

    {
      "tiers": ["small", "medium", "large", "reasoning"],   # the score ladder, cheapest first
      "score_boundaries": [0.30, 0.55, 0.80],                # < 0.30 → small … ≥ 0.80 → reasoning
      "default_tier": "medium",                              # when the router logged no score
      "keyword_rules": [{"keywords": ["prove", "theorem"], "tier": "large"}],
      "category_rules": {"math": {"min_tier": "large"}, "greeting": {"max_tier": "small"}},
      "length_rules": [{"min_characters": 8000, "min_tier": "large"}]
    }

How a tier is picked, in order: the score's place on the ladder (or the default tier); a keyword
rule that matches sets the tier (the most severe matching rule wins, as in LiteLLM's complexity
router); then prompt-length floors; then the category's floor and cap. Where a floor and a cap
disagree, the floor wins: a policy errs towards quality.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import jsonschema
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from review.models import PolicyVersion, Tier

TIER_NAME = {"type": "string", "minLength": 1, "maxLength": 40}
RULES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["tiers", "score_boundaries", "default_tier"],
    "properties": {
        "tiers": {"type": "array", "items": TIER_NAME, "minItems": 1, "uniqueItems": True},
        "score_boundaries": {"type": "array", "items": {"type": "number"}},
        "default_tier": TIER_NAME,
        "keyword_rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["keywords", "tier"],
                "properties": {
                    "keywords": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "minLength": 1, "pattern": r"\S"},
                    },
                    "tier": TIER_NAME,
                },
            },
        },
        "category_rules": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "properties": {"min_tier": TIER_NAME, "max_tier": TIER_NAME},
            },
        },
        "length_rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["min_characters", "min_tier"],
                "properties": {
                    "min_characters": {"type": "integer", "minimum": 1},
                    "min_tier": TIER_NAME,
                },
            },
        },
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(RULES_SCHEMA)


class InvalidPolicy(ValueError):
    """The rules are wrong; ``errors`` maps a JSON path in the rules to what is wrong there."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in errors.items()))


def validate(rules: Any, *, tier_names: list[str] | None = None) -> None:
    """Raise ``InvalidPolicy`` naming every problem: the shape (JSON schema), then the meaning
    (known tiers in rank order, ascending boundaries in [0, 1], one per gap)."""
    errors: dict[str, str] = {}
    for error in sorted(_VALIDATOR.iter_errors(rules), key=lambda e: list(e.absolute_path)):
        path = "rules" + "".join(
            f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path
        )
        errors.setdefault(path, error.message)
    if errors:
        raise InvalidPolicy(errors)
    known = (
        tier_names if tier_names is not None else list(Tier.objects.values_list("name", flat=True))
    )
    rank = {name: position for position, name in enumerate(known)}

    def check_tier(path: str, name: str) -> None:
        if name not in rank:
            errors[path] = f"unknown tier {name!r}; the tiers are {', '.join(known)}"

    for position, name in enumerate(rules["tiers"]):
        check_tier(f"rules['tiers'][{position}]", name)
    ladder = [rank[name] for name in rules["tiers"] if name in rank]
    if ladder != sorted(ladder):
        errors["rules['tiers']"] = "must list tiers cheapest first"
    boundaries = rules["score_boundaries"]
    if len(boundaries) != len(rules["tiers"]) - 1:
        errors["rules['score_boundaries']"] = (
            f"needs one boundary between each pair of tiers: {len(rules['tiers']) - 1}, "
            f"got {len(boundaries)}"
        )
    elif any(not 0 <= b <= 1 for b in boundaries) or boundaries != sorted(boundaries):
        errors["rules['score_boundaries']"] = "must be ascending numbers between 0 and 1"
    check_tier("rules['default_tier']", rules["default_tier"])
    for position, rule in enumerate(rules.get("keyword_rules", [])):
        check_tier(f"rules['keyword_rules'][{position}]['tier']", rule["tier"])
    for category, rule in rules.get("category_rules", {}).items():
        for bound in ("min_tier", "max_tier"):
            if bound in rule:
                check_tier(f"rules['category_rules'][{category!r}][{bound!r}]", rule[bound])
        if (
            rule.get("min_tier") in rank
            and rule.get("max_tier") in rank
            and rank[rule["min_tier"]] > rank[rule["max_tier"]]
        ):
            errors[f"rules['category_rules'][{category!r}]"] = "min_tier is above max_tier"
    for position, rule in enumerate(rules.get("length_rules", [])):
        check_tier(f"rules['length_rules'][{position}]['min_tier']", rule["min_tier"])
    if errors:
        raise InvalidPolicy(errors)


@dataclass(frozen=True)
class Compiled:
    """A policy ready to pick tiers fast: tier positions are ranks in ``tier_names``."""

    tier_names: list[str]
    ladder: list[int]
    boundaries: list[float]
    default: int
    keywords: list[tuple[list[str], int]]
    categories: dict[str, tuple[int | None, int | None]]
    lengths: list[tuple[int, int]]

    def tier_for(self, *, score: float | None, category: str, prompt: str) -> int:
        """The position (in ``tier_names``) of the tier this policy picks."""
        return self.clamp(self.base_tier(score, prompt), category=category, prompt=prompt)

    def base_tier(self, score: float | None, prompt: str) -> int:
        tier = self.default if score is None else self.ladder[_place(score, self.boundaries)]
        matched = self.keyword_tier(prompt)
        return tier if matched is None else matched

    def keyword_tier(self, prompt: str) -> int | None:
        text = prompt.lower()
        matched = [tier for words, tier in self.keywords if any(w in text for w in words)]
        return max(matched) if matched else None

    def clamp(self, tier: int, *, category: str, prompt: str) -> int:
        for min_characters, floor in self.lengths:
            if len(prompt) >= min_characters:
                tier = max(tier, floor)
        low, high = self.categories.get(category, (None, None))
        if high is not None:
            tier = min(tier, high)
        if low is not None:
            tier = max(tier, low)
        return tier


def _place(score: float, boundaries: list[float]) -> int:
    return sum(score >= boundary for boundary in boundaries)


def compile_rules(rules: dict[str, Any], tier_names: list[str]) -> Compiled:
    rank = {name: position for position, name in enumerate(tier_names)}
    return Compiled(
        tier_names=tier_names,
        ladder=[rank[name] for name in rules["tiers"]],
        boundaries=[float(b) for b in rules["score_boundaries"]],
        default=rank[rules["default_tier"]],
        keywords=[
            ([w.strip().lower() for w in rule["keywords"]], rank[rule["tier"]])
            for rule in rules.get("keyword_rules", [])
        ],
        categories={
            category: (
                rank[rule["min_tier"]] if "min_tier" in rule else None,
                rank[rule["max_tier"]] if "max_tier" in rule else None,
            )
            for category, rule in rules.get("category_rules", {}).items()
        },
        lengths=[
            (rule["min_characters"], rank[rule["min_tier"]])
            for rule in rules.get("length_rules", [])
        ],
    )


def tier_names() -> list[str]:
    return list(Tier.objects.order_by("rank").values_list("name", flat=True))


def active() -> PolicyVersion | None:
    return PolicyVersion.objects.filter(status=PolicyVersion.Status.ACTIVE).first()


def create_version(
    *,
    rules: dict[str, Any],
    created_by: User | None,
    origin: str = PolicyVersion.Origin.MANUAL,
    parent: PolicyVersion | None = None,
    explanation: list[str] | None = None,
    fit_report: dict[str, Any] | None = None,
) -> PolicyVersion:
    """Validate the rules and store them as the next draft version."""
    validate(rules)
    for attempt in range(3):
        try:
            with transaction.atomic():
                number = (PolicyVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
                return PolicyVersion.objects.create(
                    number=number,
                    rules=rules,
                    origin=origin,
                    parent=parent,
                    explanation=explanation or [],
                    fit_report=fit_report or {},
                    created_by=created_by,
                )
        except IntegrityError:
            # Two versions created at once took the same number; the loser takes the next.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class ActivationConflict(Exception):
    """Another activation committed first."""


def activate(version: PolicyVersion, *, by: User | None, note: str) -> PolicyVersion:
    """Make ``version`` the one active version and retire the one before it. Concurrent
    activations are serialised by a lock on the active row; the unique constraint on the active
    status is the last word if two transactions still race."""
    if not note.strip():
        raise ValueError("an activation needs a note saying why")
    now = timezone.now()
    try:
        with transaction.atomic():
            target = PolicyVersion.objects.select_for_update().get(pk=version.pk)
            if target.status == PolicyVersion.Status.ACTIVE:
                return target
            current = list(
                PolicyVersion.objects.select_for_update().filter(status=PolicyVersion.Status.ACTIVE)
            )
            PolicyVersion.objects.filter(pk__in=[v.pk for v in current]).update(
                status=PolicyVersion.Status.RETIRED, retired_at=now
            )
            target.status = PolicyVersion.Status.ACTIVE
            target.activated_by = by
            target.activated_at = now
            target.activation_note = note.strip()
            target.save(update_fields=["status", "activated_by", "activated_at", "activation_note"])
    except IntegrityError as error:
        raise ActivationConflict("another version was activated at the same moment") from error
    return target


def etag(version: PolicyVersion, *, variant: str = "") -> str:
    """Changes whenever what the gateways receive changes: another version, its activation, or
    the rendering asked for (``variant``)."""
    stamp = version.activated_at.timestamp() if version.activated_at else 0
    digest = hashlib.sha256(f"{version.pk}:{stamp}:{variant}".encode()).hexdigest()[:16]
    return f'"policy-v{version.number}-{digest}"'
