"""The active policy in the shapes gateways load: our JSON, a LiteLLM proxy configuration fragment
for its complexity router, and a RouteLLM router threshold."""

from collections import Counter
from typing import Any

import yaml
from django.core.cache import cache
from django.db.models import Count

from review.models import CatalogModel, Decision, PolicyVersion

# LiteLLM's complexity router has four rungs, and names the three gaps between them.
LITELLM_TIERS = ("SIMPLE", "MEDIUM", "COMPLEX", "REASONING")
LITELLM_GAPS = ("simple_medium", "medium_complex", "complex_reasoning")
LITELLM_ROUTER_NAME = "routing-review-router"
# Only the recent past says which model a gateway uses for a tier.
RECENT_DECISIONS = 50_000
SERVED_MODELS_KEY = "policy:served-models"
SERVED_MODELS_SECONDS = 60


class NotRenderable(ValueError):
    """The policy uses something the target format cannot express."""


def tier_models(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Tier name → the model name gateways use for it: the one most served on that tier in
    recent traffic, as the gateways logged it; else the tier's cheapest priced catalog model.
    ``overrides`` (tier → model) win."""
    models = dict(served_models())
    for tier_name, model_name in (
        CatalogModel.objects.filter(tier__isnull=False, input_price_per_mtok__isnull=False)
        .order_by("tier__rank", "input_price_per_mtok", "name")
        .values_list("tier__name", "name")
    ):
        models.setdefault(tier_name, model_name)
    models.update(overrides or {})
    return models


def served_models() -> dict[str, str]:
    """Tier name → the model most served on it in the last RECENT_DECISIONS decisions. Every
    gateway's policy poll renders the policy, and the answer moves slowly, so it is counted
    once per SERVED_MODELS_SECONDS and shared through the cache."""
    cached = cache.get(SERVED_MODELS_KEY)
    if cached is not None:
        return cached
    recent = Decision.objects.order_by("-occurred_at").values_list("pk", flat=True)[
        :RECENT_DECISIONS
    ]
    counts: dict[str, Counter[str]] = {}
    for tier, model, n in (
        Decision.objects.filter(pk__in=list(recent), served_tier__isnull=False)
        .values("served_tier__name", "served_model_name")
        .annotate(n=Count("pk"))
        .values_list("served_tier__name", "served_model_name", "n")
    ):
        counts.setdefault(tier, Counter())[model] += n
    served = {tier: counter.most_common(1)[0][0] for tier, counter in counts.items()}
    cache.set(SERVED_MODELS_KEY, served, SERVED_MODELS_SECONDS)
    return served


def as_json(version: PolicyVersion) -> dict[str, Any]:
    return {
        "version": version.number,
        "activated_at": version.activated_at.isoformat() if version.activated_at else None,
        "rules": version.rules,
        "tier_models": tier_models(),
    }


def as_litellm(version: PolicyVersion, *, models: dict[str, str] | None = None) -> str:
    """A ``model_list`` entry for LiteLLM's proxy config: its complexity router with this
    policy's tier → model map, score boundaries and keyword rules. Category and length rules have
    no place in that router; they are listed in a comment, not dropped silently."""
    rules = version.rules
    ladder: list[str] = rules["tiers"]
    if len(ladder) > len(LITELLM_TIERS):
        raise NotRenderable(
            f"LiteLLM's complexity router has {len(LITELLM_TIERS)} tiers; this policy's score "
            f"ladder has {len(ladder)}"
        )
    mapping = tier_models(models)
    missing = [tier for tier in ladder if tier not in mapping]
    if missing:
        raise NotRenderable(f"no model known for tier {', '.join(missing)}; pass model.<tier>=")
    # A shorter ladder fills the top rungs with its strongest tier, whose gaps never open (1.0).
    rungs = ladder + [ladder[-1]] * (len(LITELLM_TIERS) - len(ladder))
    boundaries = list(rules["score_boundaries"]) + [1.0] * (len(LITELLM_GAPS) - len(ladder) + 1)
    rung_of = {tier: LITELLM_TIERS[ladder.index(tier)] for tier in ladder}
    config: dict[str, Any] = {
        "tiers": {rung: mapping[tier] for rung, tier in zip(LITELLM_TIERS, rungs, strict=True)},
        "tier_labels": {rung: tier for rung, tier in zip(LITELLM_TIERS, rungs, strict=True)},
        "tier_boundaries": {gap: float(b) for gap, b in zip(LITELLM_GAPS, boundaries, strict=True)},
        "default_model": mapping[rules["default_tier"]],
    }
    keyword_rules = [
        {"keywords": list(rule["keywords"]), "tier": rung_of.get(rule["tier"], LITELLM_TIERS[-1])}
        for rule in rules.get("keyword_rules", [])
        if rule["tier"] in rung_of
    ]
    if keyword_rules:
        config["keyword_tier_rules"] = keyword_rules
    fragment = {
        "model_list": [
            {
                "model_name": LITELLM_ROUTER_NAME,
                "litellm_params": {
                    "model": "auto_router/complexity_router",
                    "complexity_router_config": config,
                },
            }
        ]
    }
    header = [
        f"# Routing Review policy v{version.number}: LiteLLM complexity router.",
        "# Merge into the proxy's config.yaml; each model named under tiers must be a",
        "# model_name of that config's model_list.",
    ]
    unexpressed = _unexpressed(rules)
    if unexpressed:
        header.append("# Not expressible in this router, apply in the gateway if needed:")
        header += [f"#   {line}" for line in unexpressed]
    return "\n".join(header) + "\n" + yaml.safe_dump(fragment, sort_keys=False)


def _unexpressed(rules: dict[str, Any]) -> list[str]:
    lines = []
    for category, rule in rules.get("category_rules", {}).items():
        bounds = ", ".join(f"{key.replace('_tier', '')} {value}" for key, value in rule.items())
        lines.append(f"category {category}: {bounds}")
    for rule in rules.get("length_rules", []):
        lines.append(f"prompts of {rule['min_characters']}+ characters: min {rule['min_tier']}")
    return lines


def as_routellm(
    version: PolicyVersion,
    *,
    router: str = "mf",
    weak: str | None = None,
    strong: str | None = None,
    models: dict[str, str] | None = None,
) -> dict[str, Any]:
    """RouteLLM routes between two models on a win-rate threshold: requests scoring at or above
    it go to the strong model. The threshold is the policy's boundary where its score ladder
    leaves the weak tier (by default the cheapest tier) for a stronger one."""
    ladder: list[str] = version.rules["tiers"]
    boundaries: list[float] = version.rules["score_boundaries"]
    if len(ladder) < 2:
        raise NotRenderable("RouteLLM needs two tiers; this policy's ladder has one")
    weak = weak or ladder[0]
    if weak not in ladder[:-1]:
        raise NotRenderable(f"weak must be one of {', '.join(ladder[:-1])}; got {weak!r}")
    position = ladder.index(weak)
    strong = strong or ladder[position + 1]
    if strong not in ladder[position + 1 :]:
        raise NotRenderable(
            f"strong must be a tier above {weak}: {', '.join(ladder[position + 1 :])}; "
            f"got {strong!r}"
        )
    threshold = float(boundaries[position])
    mapping = tier_models(models)
    return {
        "version": version.number,
        "router": router,
        "threshold": threshold,
        "weak_model": mapping.get(weak),
        "strong_model": mapping.get(strong),
        "weak_tier": weak,
        "strong_tier": strong,
        # RouteLLM's server takes the router and threshold in the model name.
        "model": f"router-{router}-{threshold}",
        "server_command": (
            f"python -m routellm.openai_server --routers {router} "
            f"--strong-model {mapping.get(strong)} --weak-model {mapping.get(weak)}"
        ),
    }
