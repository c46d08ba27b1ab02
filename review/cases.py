"""Everything a reviewer needs to judge one decision, gathered for the case page."""

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User

from review import labels
from review.detection import Detector
from review.models import CatalogModel, Decision, Flag, Label, LabelEvent, Tier, Verdict
from review.similarity import Similar, similar_for

# Prompts longer than this start collapsed; the rest is one click (or key) away.
COLLAPSE_AFTER_CHARACTERS = 1200


@dataclass(frozen=True)
class TierOption:
    """A tier the call could have gone to, priced for this call's tokens."""

    tier: Tier
    relation: str  # "cheaper", "served" or "stronger"
    models: list[tuple[CatalogModel, Decimal | None]]


@dataclass(frozen=True)
class Case:
    decision: Decision
    flags: list[Flag]
    older_flags: list[Flag]
    assessment: Any
    similar: list[tuple[Similar, Decision | None]]
    tier_options: list[TierOption]
    labels: list[Label]
    labels_hidden: bool
    own_label: Label | None
    history: list[LabelEvent]
    prompt_is_long: bool


def gather(decision: Decision, *, viewer: User) -> Case:
    version = Detector.current().version
    all_flags = list(decision.flags.order_by("-confidence"))
    shown = labels.visible_labels(decision, viewer)
    own = next((label for label in shown.labels if label.reviewer_id == viewer.pk), None)
    history = LabelEvent.objects.filter(decision=decision).select_related("reviewer", "right_tier")
    if shown.hidden:
        history = history.filter(reviewer=viewer)
    return Case(
        decision=decision,
        flags=[flag for flag in all_flags if flag.detector_version == version],
        older_flags=[flag for flag in all_flags if flag.detector_version != version],
        assessment=getattr(decision, "assessment", None),
        similar=_similar(decision, blind=labels.blind_to(viewer)),
        tier_options=_tier_options(decision),
        labels=shown.labels,
        labels_hidden=shown.hidden,
        own_label=own,
        history=list(history[:20]),
        prompt_is_long=len(decision.prompt_text) > COLLAPSE_AFTER_CHARACTERS,
    )


def _similar(decision: Decision, *, blind: set[int]) -> list[tuple[Similar, Decision | None]]:
    if not decision.prompt_text:
        return []
    found = similar_for({decision.pk: decision.prompt_text}, gateway_ids={decision.gateway_id})
    # Another round item's verdicts stay hidden here too until the viewer has given theirs.
    matches = [
        replace(match, verdicts=()) if match.decision_id in blind else match
        for match in found.get(decision.pk, [])
    ]
    rows = Decision.objects.select_related("served_tier").in_bulk([m.decision_id for m in matches])
    return [(match, rows.get(match.decision_id)) for match in matches]


def _tier_options(decision: Decision) -> list[TierOption]:
    served_rank = decision.served_tier.rank if decision.served_tier else None
    options = []
    for tier in Tier.objects.prefetch_related("models"):
        if served_rank is None:
            relation = "other"
        elif tier.rank < served_rank:
            relation = "cheaper"
        elif tier.rank > served_rank:
            relation = "stronger"
        else:
            relation = "served"
        models = [
            (
                model,
                model.cost_of(
                    input_tokens=decision.input_tokens or 0,
                    output_tokens=decision.output_tokens or 0,
                ),
            )
            for model in tier.models.all()
        ]
        options.append(TierOption(tier=tier, relation=relation, models=models))
    return options


def suggested_tier(decision: Decision, verdict: str, tiers: list[Tier]) -> Tier | None:
    """The right tier a verdict implies when the reviewer does not pick one: one step down for
    ``should_be_cheaper``, one up for ``should_be_stronger``, the served tier for ``correct``."""
    if decision.served_tier is None:
        return None
    ranks = {tier.rank: tier for tier in tiers}
    step = {Verdict.SHOULD_BE_CHEAPER: -1, Verdict.SHOULD_BE_STRONGER: 1, Verdict.CORRECT: 0}
    if verdict not in step:
        return None
    return ranks.get(decision.served_tier.rank + step[Verdict(verdict)])
