"""A realistic week of routed traffic for trying the product and measuring detection.

The story: two gateways route through four tiers. Their routers estimate difficulty with some
noise, pick a tier from score boundaries, and log score, category, tier and cause. Most choices are
right; some are wrong on purpose in both directions (recorded in ``DemoTruth``), and noise makes a
few more. Cheap models fail more often on hard prompts, which shows up as errors, fallbacks to a
stronger model, retries, escalations, low judge scores or a thumbs-down that arrives hours later.
Infrastructure errors (rate limits, timeouts, 5xx) happen on every tier and are not misroutes.
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from review import pipeline, rollups
from review.catalog import resolve_model
from review.demo_prompts import CATEGORIES, SLOTS, Category
from review.models import CatalogModel, Decision, DemoTruth, Gateway, Tier

DEMO_GATEWAYS = {
    "demo-prod-proxy": "Demo: LiteLLM proxy in front of the product's assistant",
    "demo-support-bot": "Demo: RouteLLM-based router of the support bot",
}
# Upper score boundary of each tier but the last, in rank order.
BOUNDARIES = (0.30, 0.55, 0.80)
# Keywords the demo router blames for the overkill it plants.
OVERKILL_KEYWORDS = ("analyze", "explain", "step by step", "detailed", "urgent")
# Names as the gateways log them, aliases included, so the demo exercises resolution too.
TIER_MODELS: dict[str, tuple[tuple[str, float], ...]] = {
    "small": (("gpt-5-nano", 0.48), ("openai/gpt-4o-mini", 0.48), ("acme-support-13b", 0.04)),
    "medium": (("gpt-5-mini", 0.6), ("anthropic/claude-haiku-4-5", 0.4)),
    "large": (("claude-sonnet-4-5", 0.7), ("gpt-4.1", 0.3)),
    "reasoning": (("o3", 0.5), ("o4-mini", 0.5)),
}
TIER_SPEED = {  # time to first token (ms), tokens per second
    "small": (250, 160.0),
    "medium": (420, 110.0),
    "large": (750, 65.0),
    "reasoning": (2500, 85.0),
}
# Traffic mix by category: most traffic is easy, as in real assistants.
CATEGORY_WEIGHTS = {
    "greeting": 0.12,
    "faq": 0.2,
    "lookup": 0.14,
    "rewrite": 0.1,
    "summary": 0.14,
    "code": 0.14,
    "math": 0.07,
    "analysis": 0.09,
}
# Planted misroutes: the share of easy prompts (ideal tier small or medium) sent to an expensive
# tier, and of hard prompts (ideal large or above) sent to a cheap one. About 5% and 3.5% of all.
PLANTED_OVERKILL_SHARE_OF_EASY = 0.075
PLANTED_UNDERPOWERED_SHARE_OF_HARD = 0.14
INFRA_ERROR_RATE = 0.025
FEEDBACK_RATE = 0.09
JUDGE_RATE = 0.3


DEMO_REVIEWERS = ("demo-reviewer-ana", "demo-reviewer-ben")
# How often a demo reviewer's verdict disagrees with the ground truth.
REVIEWER_NOISE = 0.05


@dataclass(frozen=True)
class DemoSummary:
    decisions: int
    planted_overkill: int
    planted_underpowered: int
    misrouted: int


def ideal_tier_index(difficulty: float) -> int:
    return sum(difficulty >= boundary for boundary in BOUNDARIES)


def clear_demo_data() -> int:
    """Delete the demo gateways' decisions (and their ground truth); the dashboard's rollups of
    their days are refreshed after. Returns how many."""
    demo_decisions = Decision.objects.filter(gateway__name__in=DEMO_GATEWAYS)
    with transaction.atomic():
        rollups.note_queryset(demo_decisions)
        deleted, _ = demo_decisions.delete()
    return deleted


def existing_demo_decisions() -> int:
    return Decision.objects.filter(gateway__name__in=DEMO_GATEWAYS).count()


@transaction.atomic
def generate_week(*, size: int, seed: int, end: datetime) -> DemoSummary:
    """Store ``size`` decisions spread over the seven days before ``end``."""
    tiers = list(Tier.objects.order_by("rank"))
    if len(tiers) < 3:
        raise ValueError("The demo needs at least three tiers; run load_catalog first.")
    tier_names = [tier.name for tier in tiers]
    unknown = set(tier_names) - set(TIER_MODELS)
    if unknown:
        raise ValueError(f"The demo knows tiers {sorted(TIER_MODELS)}; found {sorted(unknown)}.")
    gateways = [
        Gateway.objects.get_or_create(name=name, defaults={"description": description})[0]
        for name, description in DEMO_GATEWAYS.items()
    ]
    models = {
        logged: resolve_model(logged) for choices in TIER_MODELS.values() for logged, _ in choices
    }
    week = _Week(random.Random(seed), seed, end, tiers, gateways, models)
    decisions, truths = week.generate(size)
    created = Decision.objects.bulk_create(decisions, batch_size=1000)
    for decision, truth in zip(created, truths, strict=True):
        truth.decision = decision
    DemoTruth.objects.bulk_create(truths, batch_size=1000)
    # The loader is the demo's gateway: its decisions go through the same processing.
    pipeline.process_in_chunks([decision.pk for decision in created])
    return DemoSummary(
        decisions=len(created),
        planted_overkill=sum(t.planted == DemoTruth.Planted.OVERKILL for t in truths),
        planted_underpowered=sum(t.planted == DemoTruth.Planted.UNDERPOWERED for t in truths),
        misrouted=sum(
            t.ideal_tier_id != d.served_tier_id and d.served_tier_id is not None
            for d, t in zip(created, truths, strict=True)
        ),
    )


class _Week:
    def __init__(
        self,
        rng: random.Random,
        seed: int,
        end: datetime,
        tiers: list[Tier],
        gateways: list[Gateway],
        models: dict[str, CatalogModel],
    ) -> None:
        self.rng = rng
        self.seed = seed
        self.end = end.astimezone(UTC)
        self.tiers = tiers
        self.gateways = gateways
        self.models = models
        self.categories = {category.name: category for category in CATEGORIES}

    def generate(self, size: int) -> tuple[list[Decision], list[DemoTruth]]:
        decisions: list[Decision] = []
        truths: list[DemoTruth] = []
        request_number = 0
        while len(decisions) < size:
            request_number += 1
            for decision, truth in self._request(request_number):
                if len(decisions) < size:
                    decisions.append(decision)
                    truths.append(truth)
        return decisions, truths

    # --- one user request: one decision, or two when the gateway falls back ------------------
    def _request(self, number: int) -> list[tuple[Decision, DemoTruth]]:
        rng = self.rng
        category = self._pick_category()
        difficulty, prompt, words = self._prompt(category)
        ideal = min(ideal_tier_index(difficulty), len(self.tiers) - 1)
        gateway = self.gateways[0] if rng.random() < 0.7 else self.gateways[1]
        occurred_at = self._timestamp()

        score = min(1.0, max(0.0, difficulty + rng.gauss(0, 0.05)))
        logged_category = category.name if rng.random() > 0.08 else rng.choice(CATEGORIES).name
        served = min(ideal_tier_index(score), len(self.tiers) - 1)
        cause = f"score {score:.2f} → {self.tiers[served].name}"
        planted = ""
        roll = rng.random()
        if ideal <= 1 and roll < PLANTED_OVERKILL_SHARE_OF_EASY:
            # Keyword rules and defaults are the classic source of overkill.
            served = rng.randint(max(ideal + 1, 2), len(self.tiers) - 1)
            keyword = rng.choice(OVERKILL_KEYWORDS)
            cause = rng.choice(
                (
                    f"keyword '{keyword}' → {self.tiers[served].name}",
                    f"default tier ({self.tiers[served].name}): classifier timed out",
                    f"user plan 'enterprise' → {self.tiers[served].name}",
                )
            )
            planted = DemoTruth.Planted.OVERKILL
        elif ideal >= 2 and roll < PLANTED_UNDERPOWERED_SHARE_OF_HARD:
            # An overconfident score: the router believed the prompt was easy.
            served = rng.randint(0, min(1, ideal - 1))
            score = rng.uniform(0.05, BOUNDARIES[served] - 0.01)
            cause = f"score {score:.2f} → {self.tiers[served].name}"
            planted = DemoTruth.Planted.UNDERPOWERED

        trace_id = f"demo-trace-{self.seed}-{number:07d}"
        first = self._attempt(
            number=number,
            attempt=1,
            gateway=gateway,
            occurred_at=occurred_at,
            category=category,
            logged_category=logged_category,
            difficulty=difficulty,
            prompt=prompt,
            words=words,
            served=served,
            ideal=ideal,
            score=score,
            cause=cause,
            trace_id=trace_id,
        )
        truth = DemoTruth(
            ideal_tier=self.tiers[ideal], planted=planted, true_difficulty=round(difficulty, 4)
        )
        results = [(first, truth)]
        if first.metadata.get("falls_back_to") is not None:
            stronger = first.metadata.pop("falls_back_to")
            second = self._attempt(
                number=number,
                attempt=2,
                gateway=gateway,
                occurred_at=occurred_at + timedelta(milliseconds=(first.latency_ms or 0) + 40),
                category=category,
                logged_category=logged_category,
                difficulty=difficulty,
                prompt=prompt,
                words=words,
                served=stronger,
                ideal=ideal,
                score=score,
                cause=f"fallback after {first.served_model_name} failed",
                trace_id=trace_id,
                fallback_chain=[first.served_model_name],
            )
            results.append(
                (
                    second,
                    DemoTruth(ideal_tier=self.tiers[ideal], true_difficulty=truth.true_difficulty),
                )
            )
        return results

    def _attempt(
        self,
        *,
        number: int,
        attempt: int,
        gateway: Gateway,
        occurred_at: datetime,
        category: Category,
        logged_category: str,
        difficulty: float,
        prompt: str,
        words: int,
        served: int,
        ideal: int,
        score: float,
        cause: str,
        trace_id: str,
        fallback_chain: list[str] | None = None,
    ) -> Decision:
        rng = self.rng
        tier = self.tiers[served]
        logged_name = self._pick_model(tier.name)
        model = self.models[logged_name]
        input_tokens = int(words * 1.35) + rng.randint(120, 450)  # system prompt and history
        low, high = category.output_tokens
        output_tokens = int(math.exp(rng.uniform(math.log(low), math.log(high))))
        if tier.name == "reasoning":
            output_tokens = int(output_tokens * rng.uniform(2.0, 6.0))  # hidden reasoning tokens

        decision = Decision(
            gateway=gateway,
            event_id=f"demo-{self.seed}-{number:07d}-{attempt}",
            occurred_at=occurred_at,
            served_model=model,
            served_model_name=logged_name,
            served_tier=model.tier,
            requested_model="assistant-auto" if gateway == self.gateways[0] else "support-router",
            router_name="litellm-complexity-router"
            if gateway == self.gateways[0]
            else "routellm-mf",
            router_version="1.4.2" if gateway == self.gateways[0] else "0.2.0",
            router_score=round(score, 4),
            router_threshold=BOUNDARIES[served - 1] if served > 0 else BOUNDARIES[0],
            router_category=logged_category,
            router_tier=tier.name,
            router_cause=cause,
            candidates=[name for name in (t.name for t in self.tiers)],
            trace_id=trace_id,
            fallback_chain=fallback_chain or [],
            prompt_text=prompt,
            metadata={"app": "assistant" if gateway == self.gateways[0] else "support"},
        )

        gap = ideal - served  # > 0: a weaker tier than the prompt needs
        quality_failure = rng.random() < (min(0.9, 0.35 + 0.2 * gap) if gap > 0 else 0.03)
        if rng.random() < INFRA_ERROR_RATE:
            self._infrastructure_error(decision, rng)
            output_tokens = 0
        elif quality_failure:
            self._quality_failure(decision, rng, served=served, attempt=attempt)
            if decision.status == Decision.Status.ERROR:
                output_tokens = rng.randint(0, 40)
        else:
            decision.response_excerpt = self._response(category)
            self._late_outcome(decision, rng, good=True)

        ttft, speed = TIER_SPEED[tier.name]
        decision.input_tokens = input_tokens
        decision.output_tokens = output_tokens
        decision.time_to_first_token_ms = int(ttft * rng.uniform(0.6, 1.8))
        decision.latency_ms = decision.time_to_first_token_ms + int(1000 * output_tokens / speed)
        if decision.error_type == Decision.ErrorType.TIMEOUT:
            decision.latency_ms = 60_000
        cost = model.cost_of(input_tokens=input_tokens, output_tokens=output_tokens)
        if decision.error_type in (Decision.ErrorType.RATE_LIMIT, Decision.ErrorType.TIMEOUT):
            cost = Decimal(0)  # providers do not bill refused or abandoned calls
        decision.cost_usd = cost.quantize(Decimal("0.00000001")) if cost is not None else None
        decision.cost_source = Decision.CostSource.LOGGED if cost is not None else ""
        return decision

    def _infrastructure_error(self, decision: Decision, rng: random.Random) -> None:
        kind, http_status, message = rng.choice(
            (
                (Decision.ErrorType.RATE_LIMIT, 429, "RateLimitError: tokens per minute exceeded"),
                (Decision.ErrorType.TIMEOUT, 408, "Timeout: request exceeded 60s"),
                (Decision.ErrorType.PROVIDER_ERROR, 503, "ServiceUnavailableError: overloaded"),
            )
        )
        decision.status = Decision.Status.ERROR
        decision.error_type = kind
        decision.http_status = http_status
        decision.error_message = message
        decision.retries = rng.randint(0, 2)

    def _quality_failure(
        self, decision: Decision, rng: random.Random, *, served: int, attempt: int
    ) -> None:
        """A weak answer shows up in one of the ways gateways and apps can see."""
        signal = rng.choices(
            ("fallback", "invalid", "feedback", "judge", "retried", "escalated"),
            weights=(0.18, 0.1, 0.22, 0.22, 0.15, 0.13),
        )[0]
        if signal == "fallback" and attempt == 1 and served + 1 < len(self.tiers):
            decision.status = Decision.Status.ERROR
            decision.error_type = (
                Decision.ErrorType.CONTEXT_WINDOW
                if rng.random() < 0.3
                else (Decision.ErrorType.OUTPUT_INVALID)
            )
            decision.http_status = 400 if decision.error_type == "context_window" else 200
            decision.error_message = (
                "ContextWindowExceededError"
                if decision.error_type == "context_window"
                else "Output failed JSON schema validation"
            )
            decision.metadata["falls_back_to"] = served + 1
            return
        if signal == "invalid":
            decision.status = Decision.Status.ERROR
            decision.error_type = Decision.ErrorType.OUTPUT_INVALID
            decision.http_status = 200
            decision.error_message = "Output failed JSON schema validation"
            return
        decision.response_excerpt = "I'm not sure, but it might be something like this…"
        later = decision.occurred_at + timedelta(minutes=rng.randint(2, 60 * 30))
        decision.outcome_updated_at = min(later, self.end)
        if signal == "feedback":
            decision.user_feedback = -1
        elif signal == "judge":
            decision.judge_score = round(rng.uniform(0.05, 0.45), 3)
        elif signal == "retried":
            decision.retried = True
        else:
            decision.escalated = True

    def _late_outcome(self, decision: Decision, rng: random.Random, *, good: bool) -> None:
        has_feedback = rng.random() < FEEDBACK_RATE
        has_judge = rng.random() < JUDGE_RATE
        if not (has_feedback or has_judge):
            return
        if has_feedback:
            # Users are fickle: a few thumbs-down on answers that were fine.
            decision.user_feedback = 1 if rng.random() < 0.85 else -1
        if has_judge:
            decision.judge_score = round(min(1.0, rng.gauss(0.82, 0.1)), 3)
            decision.judge_score = max(0.0, decision.judge_score)
        later = decision.occurred_at + timedelta(minutes=rng.randint(1, 60 * 24))
        decision.outcome_updated_at = min(later, self.end)

    # --- material --------------------------------------------------------------------------
    def _pick_category(self) -> Category:
        names = list(CATEGORY_WEIGHTS)
        name = self.rng.choices(names, weights=[CATEGORY_WEIGHTS[n] for n in names])[0]
        return self.categories[name]

    def _prompt(self, category: Category) -> tuple[float, str, int]:
        rng = self.rng
        prompt = rng.choice(category.prompts)
        difficulty = rng.uniform(*prompt.difficulty)
        text = self._fill(prompt.template)
        # Pasted context makes prompts long; a long context makes the same question harder.
        length = rng.choices(("short", "medium", "long"), weights=(0.55, 0.3, 0.15))[0]
        if category.context and length != "short":
            count = rng.randint(3, 8) if length == "medium" else rng.randint(15, 60)
            context = "\n".join(self._fill(rng.choice(category.context)) for _ in range(count))
            text = f"{text}\n\n{context}"
            difficulty = min(1.0, difficulty + (0.04 if length == "medium" else 0.1))
        return difficulty, text, len(text.split())

    def _fill(self, template: str) -> str:
        return template.format_map(_Slots(self.rng))

    def _response(self, category: Category) -> str:
        return self._fill(self.rng.choice(category.responses))

    def _pick_model(self, tier_name: str) -> str:
        names, weights = zip(*TIER_MODELS[tier_name], strict=True)
        return self.rng.choices(names, weights=weights)[0]

    def _timestamp(self) -> datetime:
        """A time in the week before ``end``, busier on weekday working hours."""
        rng = self.rng
        while True:
            offset = rng.uniform(0, 7 * 24 * 3600)
            moment = self.end - timedelta(seconds=offset)
            busy = 1.0 if 8 <= moment.hour < 19 else 0.35
            if moment.weekday() >= 5:
                busy *= 0.45
            if rng.random() < busy:
                return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class _Slots(dict[str, Any]):
    """Fills each ``{slot}`` of a template with a random value of that slot."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        return self.rng.choice(SLOTS[key])


def label_sample(*, count: int, seed: int) -> int:
    """Label ``count`` demo decisions as a review round would: half among the flagged, half at
    random, verdicts from the ground truth with a little reviewer disagreement. For trying the
    learned model and the evaluation; returns how many labels were written."""
    from django.contrib.auth import get_user_model

    from review.models import Flag, Label, Verdict

    rng = random.Random(seed)
    users = get_user_model()
    reviewers = []
    for name in DEMO_REVIEWERS:
        user, created = users.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        reviewers.append(user)
    demo_ids = list(
        DemoTruth.objects.filter(decision__served_tier__isnull=False).values_list(
            "decision_id", flat=True
        )
    )
    flagged = sorted(
        set(Flag.objects.filter(decision_id__in=demo_ids).values_list("decision_id", flat=True))
    )
    chosen = set(rng.sample(flagged, min(len(flagged), count // 2)))
    rest = [pk for pk in demo_ids if pk not in chosen]
    chosen |= set(rng.sample(rest, min(len(rest), count - len(chosen))))
    truths = DemoTruth.objects.filter(decision_id__in=chosen).select_related(
        "ideal_tier", "decision__served_tier"
    )
    verdicts = [Verdict.CORRECT, Verdict.SHOULD_BE_CHEAPER, Verdict.SHOULD_BE_STRONGER]
    labels = []
    for truth in truths.order_by("decision_id"):
        served, ideal = truth.decision.served_tier.rank, truth.ideal_tier.rank  # type: ignore[union-attr]
        verdict = (
            Verdict.CORRECT
            if served == ideal
            else Verdict.SHOULD_BE_CHEAPER
            if served > ideal
            else Verdict.SHOULD_BE_STRONGER
        )
        if rng.random() < REVIEWER_NOISE:
            verdict = rng.choice([v for v in verdicts if v != verdict])
        labels.append(
            Label(
                decision_id=truth.decision_id,
                reviewer=rng.choice(reviewers),
                verdict=verdict,
                right_tier=truth.ideal_tier,
                note="demo label",
            )
        )
    Label.objects.bulk_create(labels, ignore_conflicts=True)
    # Written in bulk, past record_label: the dashboard's rollups of those days are noted here.
    rollups.note_changes(decision_ids=[label.decision_id for label in labels])
    return len(labels)


def ensure_demo_policy() -> bool:
    """Make the demo router's own policy the active version, if no policy exists yet: its score
    boundaries, so proposals fitted on demo labels have a parent to beat. (Its planted overkill
    comes from causes outside any policy: keyword hits logged without the word in the prompt,
    timeouts, plans.) Returns whether it was created."""
    from review import policy
    from review.models import PolicyVersion

    if PolicyVersion.objects.exists():
        return False
    names = policy.tier_names()
    rules = {
        "tiers": names,
        "score_boundaries": list(BOUNDARIES[: len(names) - 1]),
        "default_tier": names[min(1, len(names) - 1)],
    }
    version = policy.create_version(rules=rules, created_by=None, origin=PolicyVersion.Origin.DEMO)
    policy.activate(version, by=None, note="the demo router's policy, as it ran this week")
    return True
