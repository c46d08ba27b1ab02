"""Routing policies: rules, validation, activation, fitting, replay, rendering, serving."""

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import yaml
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

from review import policy, policy_render, proposals, replay, roles
from review.models import ApiKey, Decision, Label, PolicyReplay, PolicyVersion, Tier
from tests.people import client_for, person

LADDER = ["small", "medium", "large", "reasoning"]


def rules(**changes: Any) -> dict[str, Any]:
    base = {"tiers": LADDER, "score_boundaries": [0.3, 0.55, 0.8], "default_tier": "medium"}
    return {**base, **changes}


# --- Validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "path", "reason"),
    [
        ({"tiers": LADDER}, "rules", "'score_boundaries' is a required property"),
        (rules(extra=1), "rules", "Additional properties are not allowed"),
        (rules(score_boundaries=[0.3, "x", 0.8]), "rules['score_boundaries'][1]", "not of type"),
        (rules(score_boundaries=[0.3, 0.8]), "rules['score_boundaries']", "needs one boundary"),
        (rules(score_boundaries=[0.6, 0.3, 0.8]), "rules['score_boundaries']", "ascending"),
        (rules(score_boundaries=[0.3, 0.55, 1.8]), "rules['score_boundaries']", "between 0 and 1"),
        (rules(default_tier="huge"), "rules['default_tier']", "unknown tier 'huge'"),
        (
            rules(tiers=["medium", "small", "large", "reasoning"]),
            "rules['tiers']",
            "cheapest first",
        ),
        (
            rules(keyword_rules=[{"keywords": [" "], "tier": "large"}]),
            "rules['keyword_rules'][0]['keywords'][0]",
            "does not match",
        ),
        (
            rules(category_rules={"math": {"min_tier": "reasoning", "max_tier": "small"}}),
            "rules['category_rules']['math']",
            "min_tier is above max_tier",
        ),
        (
            rules(length_rules=[{"min_characters": 0, "min_tier": "large"}]),
            "rules['length_rules'][0]['min_characters']",
            "less than the minimum",
        ),
    ],
)
def test_bad_rules_are_refused_naming_where_and_why(tiers, bad, path, reason):
    with pytest.raises(policy.InvalidPolicy) as refused:
        policy.validate(bad)
    assert path in refused.value.errors, refused.value.errors
    assert reason in refused.value.errors[path]


def test_good_rules_pass_and_pick_tiers_in_the_documented_order(tiers):
    good = rules(
        keyword_rules=[{"keywords": ["Prove"], "tier": "reasoning"}],
        category_rules={"greeting": {"max_tier": "small"}, "math": {"min_tier": "large"}},
        length_rules=[{"min_characters": 50, "min_tier": "medium"}],
    )
    policy.validate(good)
    compiled = policy.compile_rules(good, LADDER)
    pick = lambda **kw: LADDER[compiled.tier_for(**kw)]  # noqa: E731
    assert pick(score=0.1, category="", prompt="hi") == "small"
    assert pick(score=0.3, category="", prompt="hi") == "medium"  # a boundary belongs above
    assert pick(score=0.9, category="", prompt="hi") == "reasoning"
    assert pick(score=None, category="", prompt="hi") == "medium"  # the default
    assert pick(score=0.1, category="", prompt="please prove it") == "reasoning"  # keyword
    assert pick(score=0.9, category="greeting", prompt="hello") == "small"  # cap
    assert pick(score=0.1, category="math", prompt="2+2") == "large"  # floor
    assert pick(score=0.1, category="", prompt="x" * 60) == "medium"  # length floor


# --- Versions and activation ----------------------------------------------------------------


def test_versions_are_numbered_and_exactly_one_is_active(tiers, admin_user):
    first = policy.create_version(rules=rules(), created_by=admin_user)
    second = policy.create_version(rules=rules(default_tier="small"), created_by=admin_user)
    assert (first.number, second.number) == (1, 2)
    policy.activate(first, by=admin_user, note="first")
    policy.activate(second, by=admin_user, note="better on last week's labels")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == PolicyVersion.Status.RETIRED and first.retired_at is not None
    assert second.status == PolicyVersion.Status.ACTIVE
    assert second.activated_by == admin_user
    assert second.activation_note == "better on last week's labels"
    with pytest.raises(ValueError, match="note"):
        policy.activate(first, by=admin_user, note="  ")


@pytest.mark.django_db(transaction=True)
def test_concurrent_activations_leave_exactly_one_active(tiers):
    versions = [policy.create_version(rules=rules(), created_by=None) for _ in range(6)]
    barrier = threading.Barrier(len(versions))
    outcomes: list[str] = []

    def activate(version: PolicyVersion) -> None:
        barrier.wait()
        try:
            policy.activate(version, by=None, note="race")
            outcomes.append("activated")
        except policy.ActivationConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == len(versions)
    assert PolicyVersion.objects.filter(status=PolicyVersion.Status.ACTIVE).count() == 1


# --- Fitting --------------------------------------------------------------------------------


def crafted(
    scores: list[float], right: list[str], *, categories: list[str] | None = None
) -> proposals.Labelled:
    """Labelled requests with a cost per tier that doubles with each rung."""
    n = len(scores)
    position = {name: i for i, name in enumerate(LADDER)}
    return proposals.Labelled(
        score=np.array(scores, dtype=float),
        right=np.array([position[r] for r in right]),
        weight=np.ones(n),
        cost=np.tile(np.array([1.0, 2.0, 4.0, 8.0]), (n, 1)),
        category=categories or [""] * n,
        prompt=[""] * n,
        decision_ids=list(range(n)),
        tier_names=LADDER,
    )


def test_the_fit_finds_the_boundaries_the_labels_imply(tiers):
    # Each tier is right for its own score band, whose edges are 0.4, 0.6 and 0.9.
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 1, 400).round(3).tolist()
    right = [LADDER[int(s >= 0.4) + int(s >= 0.6) + int(s >= 0.9)] for s in scores]
    fitted = proposals.fit(parent=None, max_should_be_stronger=0.0, data=crafted(scores, right))
    assert fitted.rules["score_boundaries"] == pytest.approx([0.4, 0.6, 0.9], abs=0.025)
    assert fitted.report["on_labels_after"]["should_be_stronger_share"] == 0
    assert fitted.report["feasible"]


def test_the_fit_trades_quality_for_cost_up_to_the_limit(tiers):
    scores = [i / 100 for i in range(100)]
    right = ["medium" if s >= 0.5 else "small" for s in scores]
    strict = proposals.fit(parent=None, max_should_be_stronger=0.0, data=crafted(scores, right))
    loose = proposals.fit(parent=None, max_should_be_stronger=0.1, data=crafted(scores, right))
    assert strict.rules["score_boundaries"][0] == pytest.approx(0.5)
    # Sending up to 10% below their right tier buys a higher first boundary.
    assert loose.rules["score_boundaries"][0] == pytest.approx(0.6)
    assert loose.report["on_labels_after"]["should_be_stronger_share"] <= 0.1


def test_a_category_the_score_misjudges_gets_a_floor_with_its_reason(tiers):
    # The router scores math low, but math needs the large tier.
    scores = [0.1] * 40 + [0.1] * 40
    right = ["large"] * 40 + ["small"] * 40
    categories = ["math"] * 40 + ["chat"] * 40
    data = crafted(scores, right, categories=categories)
    fitted = proposals.fit(parent=None, max_should_be_stronger=0.0, data=data)
    assert fitted.rules["category_rules"]["math"] == {"min_tier": "large"}
    assert any(
        "move 'math' to at least 'large': 40 of 40 labelled math queries needed large" in line
        for line in fitted.explanation
    ), fitted.explanation


def test_a_keyword_rule_the_labels_contradict_is_dropped(tiers, admin_user):
    parent = policy.create_version(
        rules=rules(
            score_boundaries=[0.5, 0.8, 0.9],
            keyword_rules=[{"keywords": ["urgent"], "tier": "reasoning"}],
        ),
        created_by=admin_user,
    )
    data = crafted([0.1] * 20, ["small"] * 20)
    data.prompt = ["urgent: reset my password"] * 20
    fitted = proposals.fit(parent=parent, max_should_be_stronger=0.01, data=data)
    assert fitted.rules["keyword_rules"] == []
    assert any("drop the keyword rule 'urgent'" in line for line in fitted.explanation)


# --- Replay ---------------------------------------------------------------------------------


def test_replay_costs_match_a_hand_computation(make_decision, tiers, reviewer):
    version = policy.create_version(rules=rules(), created_by=None)
    easy = make_decision("gpt-4o", router_score=0.1, input_tokens=1000, output_tokens=500)
    hard = make_decision("gpt-4o-mini", router_score=0.95, input_tokens=2000, output_tokens=100)
    Label.objects.create(
        decision=hard, reviewer=reviewer, verdict="should_be_stronger", right_tier=tiers["large"]
    )
    since = easy.occurred_at.replace(hour=0)
    until = since.replace(hour=23)
    prices = {p.name: p for p in replay.tier_prices(since, until)}
    figures = replay.replay(version, since=since, until=until)
    # gpt-4o-mini served the only small call, gpt-4o the only large one: those are the prices.
    small, large = tiers["small"], tiers["large"]
    mini = small.models.get(name="gpt-4o-mini")
    big = large.models.get(name="gpt-4o")
    assert prices["small"].input_per_mtok == mini.input_price_per_mtok
    assert prices["large"].output_per_mtok == big.output_price_per_mtok
    reasoning = prices["reasoning"]
    expected = (mini.input_price_per_mtok * 1000 + mini.output_price_per_mtok * 500) / 10**6 + (
        reasoning.input_per_mtok * 2000 + reasoning.output_per_mtok * 100
    ) / 10**6
    assert Decimal(figures["cost"]) == pytest.approx(expected, abs=Decimal("0.000001"))
    assert Decimal(figures["cost_per_1k"]) == pytest.approx(expected * 500, abs=Decimal("0.001"))
    assert figures["calls_per_tier"] == [1, 0, 0, 1]
    assert figures["served_calls_per_tier"] == [1, 0, 1, 0]
    # The hard one was labelled large: served small was too weak, the policy's reasoning fixes it.
    assert figures["should_be_stronger_share"] == 0
    assert figures["should_be_cheaper_share"] == 1
    assert figures["served_should_be_stronger_share"] == 1
    assert figures["misroutes_fixed"] == 0 and figures["misroutes_introduced"] == 0


def test_a_replay_job_records_progress_and_figures(make_decision, tiers):
    version = policy.create_version(rules=rules(), created_by=None)
    for score in (0.1, 0.5, 0.9):
        make_decision(router_score=score)
    since, until = replay.default_range()
    job = replay.start(version, since=since, until=until, by=None)
    finished = replay.run(job.pk)
    assert finished.status == PolicyReplay.Status.DONE
    assert (finished.done, finished.total) == (3, 3)
    assert finished.figures["requests"] == 3
    assert replay.run(job.pk).status == PolicyReplay.Status.DONE  # a second run does nothing


def test_apgr_on_fallback_pairs(make_decision, tiers):
    """Two requests: a hard one (weak failed, strong worked) scored high, an easy one (both
    worked) scored low. Sending the top-scored half to strong recovers the whole gap."""
    version = policy.create_version(rules=rules(), created_by=None)
    for trace, score, weak_ok in [("t-hard", 0.9, False), ("t-easy", 0.2, True)]:
        make_decision(
            "gpt-4o-mini",
            trace_id=trace,
            router_score=score,
            status="success" if weak_ok else "error",
            error_type="" if weak_ok else "bad_request",
        )
        make_decision("gpt-4o", trace_id=trace, router_score=score)
    since, until = replay.default_range()
    pairwise = replay.replay(version, since=since, until=until)["pairwise"]
    assert pairwise["pairs"] == 2
    assert (pairwise["weak_quality"], pairwise["strong_quality"]) == (0.5, 1.0)
    # PGR over 0%, 50%, 100% strong calls: 0, 1, 1 → trapezoid mean 0.75; 50% reached at 0.5.
    assert pairwise["apgr"] == 0.75
    assert pairwise["cpt50"] == 0.5


# --- Rendering and serving ------------------------------------------------------------------


def test_the_litellm_rendering_loads_in_litellm_itself(tiers):
    from litellm.router_strategy.complexity_router.config import ComplexityRouterConfig

    version = policy.create_version(
        rules=rules(
            keyword_rules=[{"keywords": ["prove", "theorem"], "tier": "reasoning"}],
            category_rules={"math": {"min_tier": "large"}},
        ),
        created_by=None,
    )
    text = policy_render.as_litellm(version, models={"small": "gpt-4o-mini"})
    assert "category math: min large" in text  # what the router cannot express is listed
    entry = yaml.safe_load(text)["model_list"][0]
    assert entry["litellm_params"]["model"] == "auto_router/complexity_router"
    config = ComplexityRouterConfig(**entry["litellm_params"]["complexity_router_config"])
    assert config.tiers["SIMPLE"] == "gpt-4o-mini"
    assert config.tier_boundaries == {
        "simple_medium": 0.3,
        "medium_complex": 0.55,
        "complex_reasoning": 0.8,
    }
    assert config.keyword_tier_rules[0].tier == "REASONING"
    assert config.keyword_tier_rules[0].keywords == ["prove", "theorem"]
    # And a LiteLLM router built from the fragment (plus the tier models it names) takes it.
    import litellm

    model_list = yaml.safe_load(text)["model_list"]
    for name in set(config.tiers.values()):
        model_list.append(
            {"model_name": name, "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "x"}}
        )
    router = litellm.Router(model_list=model_list)
    assert list(router.complexity_routers) == [policy_render.LITELLM_ROUTER_NAME]


def test_the_routellm_rendering_is_the_boundary_leaving_the_weak_tier(tiers):
    version = policy.create_version(rules=rules(), created_by=None)
    default = policy_render.as_routellm(version, models={"small": "s", "medium": "m"})
    assert default["threshold"] == 0.3
    assert (default["weak_model"], default["strong_model"]) == ("s", "m")
    assert default["model"] == "router-mf-0.3"
    other = policy_render.as_routellm(version, weak="medium", strong="reasoning", router="bert")
    assert other["threshold"] == 0.55 and other["model"] == "router-bert-0.55"
    with pytest.raises(policy_render.NotRenderable, match="strong must be a tier above"):
        policy_render.as_routellm(version, weak="large", strong="small")


@pytest.fixture
def policy_key(gateway) -> str:
    return ApiKey.issue(gateway=gateway, scopes=["policy:read"])[1]


def test_the_served_models_are_counted_once_a_minute_for_every_poll(make_decision):
    """Gateways poll the policy; the tier → model map from traffic is shared through the cache
    and counted again when it expires."""
    first = make_decision("gpt-4o")
    other = make_decision("claude-sonnet-4-5")
    assert first.served_tier == other.served_tier is not None
    tier = first.served_tier.name
    make_decision("gpt-4o")
    assert policy_render.tier_models()[tier] == "gpt-4o"
    for _ in range(3):
        make_decision("claude-sonnet-4-5")
    assert policy_render.tier_models()[tier] == "gpt-4o"  # within the minute: the counted map
    cache.delete(policy_render.SERVED_MODELS_KEY)  # the minute is over
    assert policy_render.tier_models()[tier] == "claude-sonnet-4-5"
    assert policy_render.tier_models({tier: "my-alias"})[tier] == "my-alias"


def test_the_api_serves_the_active_policy_with_an_etag(tiers, policy_key):
    client = Client(headers={"Authorization": f"Bearer {policy_key}"})
    assert client.get("/api/v1/policy").status_code == 404  # nothing active yet
    version = policy.create_version(rules=rules(), created_by=None)
    policy.activate(version, by=None, note="go")
    response = client.get("/api/v1/policy")
    assert response.status_code == 200
    assert response.json()["version"] == version.number
    assert response.json()["rules"]["score_boundaries"] == [0.3, 0.55, 0.8]
    tag = response["ETag"]
    again = client.get("/api/v1/policy", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again["ETag"] == tag
    # Another rendering is another tag.
    litellm = client.get("/api/v1/policy?format=litellm", headers={"If-None-Match": tag})
    assert litellm.status_code == 200
    assert litellm["Content-Type"] == "application/yaml"
    assert "complexity_router_config" in litellm.content.decode()
    # A new activation changes the tag.
    newer = policy.create_version(rules=rules(default_tier="small"), created_by=None)
    policy.activate(newer, by=None, note="newer")
    changed = client.get("/api/v1/policy", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.json()["version"] == newer.number
    routellm = client.get("/api/v1/policy?format=routellm&weak=small&strong=large")
    assert routellm.json()["threshold"] == 0.3
    bad = client.get("/api/v1/policy?format=xml")
    assert bad.status_code == 400
    assert "format" in bad.json()["error"]["fields"]


def test_the_policy_api_needs_a_key_with_the_policy_scope(tiers, gateway, reviewer):
    ingest_only = ApiKey.issue(gateway=gateway, scopes=["ingest"])[1]
    assert Client().get("/api/v1/policy").status_code == 401
    refused = Client(headers={"Authorization": f"Bearer {ingest_only}"}).get("/api/v1/policy")
    assert refused.status_code == 403
    assert client_for(reviewer).get("/api/v1/policy").status_code == 401  # a session is no key


# --- Pages ----------------------------------------------------------------------------------


@pytest.fixture
def two_versions(tiers) -> tuple[PolicyVersion, PolicyVersion]:
    active = policy.create_version(rules=rules(), created_by=None)
    policy.activate(active, by=None, note="first")
    draft = policy.create_version(
        rules=rules(
            score_boundaries=[0.35, 0.55, 0.8], category_rules={"chat": {"max_tier": "medium"}}
        ),
        created_by=None,
    )
    return active, draft


def page_urls(active: PolicyVersion, draft: PolicyVersion) -> list[str]:
    return [
        reverse("policies"),
        reverse("policy", args=[draft.number]),
        reverse("policy-compare") + f"?proposal={draft.number}",
    ]


def action_posts(draft: PolicyVersion) -> list[tuple[str, dict[str, str]]]:
    return [
        (reverse("policy-propose"), {"max_should_be_stronger": "1"}),
        (reverse("policy-new"), {"rules": "{}", "note": ""}),
        (reverse("policy-replay", args=[draft.number]), {}),
        (reverse("policy-replay-both"), {"base": "1", "proposal": str(draft.number)}),
        (reverse("policy-activate", args=[draft.number]), {"note": "go"}),
    ]


def test_policy_pages_need_a_login_and_a_role(two_versions, gateway):
    active, draft = two_versions
    key = ApiKey.issue(gateway=gateway, scopes=["policy:read"])[1]
    nobody = client_for(person("nobody", None))
    viewer = client_for(person("vera", roles.VIEWER))
    for url in page_urls(active, draft):
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
        with_key = Client(headers={"Authorization": f"Bearer {key}"}).get(url)
        assert with_key.status_code == 302, url
        assert nobody.get(url).status_code == 403, url
        assert viewer.get(url).status_code == 200, url
    for url, data in action_posts(draft):
        assert viewer.post(url, data).status_code == 403, url
        assert Client().post(url, data).status_code == 302, url
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT


def test_the_compare_page_shows_the_diff_replays_and_activates(
    two_versions, make_decision, reviewer
):
    active, draft = two_versions
    decision = make_decision(router_score=0.32, router_category="chat")
    Label.objects.create(
        decision=decision,
        reviewer=reviewer,
        verdict="should_be_cheaper",
        right_tier=Tier.objects.get(name="small"),
    )
    owner = client_for(person("olga", roles.POLICY_OWNER))
    url = reverse("policy-compare") + f"?proposal={draft.number}"
    page = owner.get(url)
    diff = page.context["diff"]
    assert ("boundary small→medium", "0.300", "0.350") in diff
    assert ("category chat", "–", "max medium") in diff
    assert page.context["examples"][0]["decision_id"] == decision.pk
    assert page.context["examples"][0]["effect"] == "fixes"
    # Replaying both runs the jobs (eagerly here: the task runs on commit in tests).
    owner.post(reverse("policy-replay-both"), {"base": active.number, "proposal": draft.number})
    assert PolicyReplay.objects.count() == 2
    for job in PolicyReplay.objects.all():
        replay.run(job.pk)
    page = owner.get(url)
    assert page.context["base_figures"]["requests"] == 1
    assert page.context["chart"]["data"][2]["name"].startswith(f"v{draft.number}")
    refused = owner.post(reverse("policy-activate", args=[draft.number]), {"note": ""})
    assert refused.status_code == 302
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT
    owner.post(reverse("policy-activate", args=[draft.number]), {"note": "cheaper chat"})
    draft.refresh_from_db()
    active.refresh_from_db()
    assert (draft.status, active.status) == ("active", "retired")
    assert draft.activation_note == "cheaper chat"


def test_a_version_written_by_hand_with_errors_is_refused_naming_them(tiers):
    owner = client_for(person("olga", roles.POLICY_OWNER))
    response = owner.post(
        reverse("policy-new"),
        {"rules": '{"tiers": ["small"], "score_boundaries": [0.5], "default_tier": "x"}'},
    )
    assert response.status_code == 400
    errors = " ".join(response.context["rules_form"].errors["rules"])
    assert "rules['score_boundaries']" in errors
    assert "unknown tier 'x'" in errors
    assert not PolicyVersion.objects.exists()


# --- The demo week, labelled from its ground truth ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_on_the_demo_week_the_proposal_is_cheaper_and_no_worse_on_quality(settings):
    from django.core.management import call_command

    settings.CELERY_TASK_ALWAYS_EAGER = True
    call_command("load_catalog", verbosity=0)
    call_command("demo_week", size=6000, seed=11, labels=1500, verbosity=0)
    active = policy.active()
    assert active is not None and active.origin == PolicyVersion.Origin.DEMO
    proposal = proposals.propose(by=None, max_should_be_stronger=0.01)
    since, until = replay.default_range()
    before = replay.replay(active, since=since, until=until)
    after = replay.replay(proposal, since=since, until=until)
    limit = proposal.fit_report["limit_applied"]
    assert Decimal(after["cost_per_1k"]) < Decimal(before["cost_per_1k"])
    assert after["should_be_stronger_share"] <= max(limit, before["should_be_stronger_share"])
    assert proposal.explanation


def test_the_weekly_task_closes_the_last_round_and_fits_a_proposal(
    tiers, make_decision: Callable[..., Decision], reviewer, django_capture_on_commit_callbacks
):
    from datetime import date

    from review import tasks
    from review.models import ReviewRound

    earlier = ReviewRound.objects.create(week_start=date(2026, 11, 16))
    decision = make_decision(router_score=0.9)
    Label.objects.create(
        decision=decision, reviewer=reviewer, verdict="correct", right_tier=tiers["small"]
    )
    with django_capture_on_commit_callbacks() as enqueued:
        tasks.open_weekly_round()
    earlier.refresh_from_db()
    assert earlier.closed_at is not None
    assert len(enqueued) == 1  # the proposal, sent to the worker once the round is committed
    number = tasks.propose_policy()
    fitted = PolicyVersion.objects.get(number=number)
    assert fitted.origin == PolicyVersion.Origin.FITTED
    assert fitted.fit_report["labelled_decisions"] == 1


def test_the_compare_page_hides_labelled_examples_still_blind_to_the_viewer(
    two_versions, make_decision, reviewer
):
    from datetime import date

    from review.models import QueueItem, ReviewRound

    _active, draft = two_versions
    decision = make_decision(router_score=0.32, router_category="chat")
    review_round = ReviewRound.objects.create(week_start=date(2026, 11, 30), labels_per_item=2)
    QueueItem.objects.create(round=review_round, decision=decision, source="flag", position=0)
    Label.objects.create(
        decision=decision,
        reviewer=reviewer,
        verdict="should_be_cheaper",
        right_tier=Tier.objects.get(name="small"),
    )
    url = reverse("policy-compare") + f"?proposal={draft.number}"
    other_reviewer = client_for(person("rob", roles.REVIEWER))
    assert other_reviewer.get(url).context["examples"] == []
    viewer = client_for(person("vera", roles.VIEWER))  # cannot label, so nothing is blind to them
    assert [row["decision_id"] for row in viewer.get(url).context["examples"]] == [decision.pk]
