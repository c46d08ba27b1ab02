"""Policy pages: the versions and their replay figures, one version, the compare page where the
owner activates a proposal."""

from datetime import datetime
from typing import Any

import numpy as np
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from review import labels, policy, policy_charts, policy_render, proposals, replay, tasks
from review.access import person, requires
from review.forms import ActivateForm, PolicyRulesForm, ProposeForm, ReplayForm
from review.models import Decision, PolicyReplay, PolicyVersion


@requires("review.view_policyversion")
def policy_list(request: HttpRequest) -> HttpResponse:
    since, until = replay.default_range()
    versions = list(PolicyVersion.objects.select_related("created_by", "activated_by")[:50])
    figures = {
        job.version_id: job.figures
        for job in PolicyReplay.objects.filter(
            version__in=versions, status=PolicyReplay.Status.DONE
        ).order_by("created_at")
    }
    context = {
        "rows": [(version, figures.get(version.pk)) for version in versions],
        "propose_form": ProposeForm() if _owner(request) else None,
        "rules_form": PolicyRulesForm(initial=_starting_rules()) if _owner(request) else None,
        "since": since,
        "until": until,
    }
    return render(request, "review/policies.html", context)


def _owner(request: HttpRequest) -> bool:
    return request.user.has_perm("review.add_policyversion")


def _starting_rules() -> dict[str, Any]:
    current = policy.active()
    if current is not None:
        return {"rules": current.rules}
    names = policy.tier_names()
    spacing = [round((i + 1) / len(names), 3) for i in range(len(names) - 1)]
    return {"rules": {"tiers": names, "score_boundaries": spacing, "default_tier": names[0]}}


@require_POST
@requires("review.add_policyversion")
def propose(request: HttpRequest) -> HttpResponse:
    form = ProposeForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not fitted: {form.errors.as_text()}")
        return redirect("policies")
    limit = float(form.cleaned_data["max_should_be_stronger"]) / 100
    version = proposals.propose(by=person(request), max_should_be_stronger=limit)
    messages.success(request, f"Fitted {version} on the labels.")
    return redirect(f"{_compare_url(version)}")


@require_POST
@requires("review.add_policyversion")
def create_version(request: HttpRequest) -> HttpResponse:
    form = PolicyRulesForm(request.POST)
    if form.is_valid():
        try:
            version = policy.create_version(
                rules=form.cleaned_data["rules"],
                created_by=person(request),
                parent=policy.active(),
                explanation=[form.cleaned_data["note"]] if form.cleaned_data["note"] else [],
            )
        except policy.InvalidPolicy as error:
            for path, reason in error.errors.items():
                form.add_error("rules", f"{path}: {reason}")
        else:
            messages.success(request, f"Saved {version} as a draft.")
            return redirect(_compare_url(version))
    context = {"rows": [], "rules_form": form, "propose_form": ProposeForm()}
    return render(request, "review/policies.html", context, status=400)


def _compare_url(version: PolicyVersion) -> str:
    from django.urls import reverse

    return f"{reverse('policy-compare')}?proposal={version.number}"


@requires("review.view_policyversion")
def policy_detail(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(
        PolicyVersion.objects.select_related("created_by", "activated_by", "parent"),
        number=number,
    )
    try:
        litellm = policy_render.as_litellm(version)
    except policy_render.NotRenderable as error:
        litellm = f"# not renderable: {error}"
    since, until = replay.default_range()
    context = {
        "version": version,
        "replays": version.replays.all()[:10],
        "litellm": litellm,
        # Each tier with the score from which the next one takes over.
        "ladder": list(
            zip(
                version.rules["tiers"],
                [*version.rules["score_boundaries"], None],
                strict=False,
            )
        ),
        "replay_form": ReplayForm(initial={"since": since, "until": until}),
    }
    return render(request, "review/policy.html", context)


@require_POST
@requires("review.add_policyreplay")
def start_replay(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(PolicyVersion, number=number)
    form = ReplayForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not replayed: {form.errors.as_text()}")
        return redirect("policy", number)
    _enqueue_replay(version, form.cleaned_data["since"], form.cleaned_data["until"], request)
    return redirect("policy", number)


def _enqueue_replay(
    version: PolicyVersion, since: datetime, until: datetime, request: HttpRequest
) -> PolicyReplay:
    with transaction.atomic():
        job = replay.start(version, since=since, until=until, by=person(request))
        transaction.on_commit(lambda: tasks.run_replay.delay(job.pk))
    return job


@requires("review.view_policyversion")
def compare(request: HttpRequest) -> HttpResponse:
    """The active version (or ``base``) beside a proposal (or the newest draft)."""
    base = _version(request.GET.get("base")) or policy.active()
    proposal = _version(request.GET.get("proposal")) or (
        PolicyVersion.objects.filter(status=PolicyVersion.Status.DRAFT).first()
    )
    if proposal is None or base is None:
        return render(request, "review/policy_compare.html", {"base": base, "proposal": proposal})
    since, until = replay.default_range()
    jobs = {
        version.pk: replay.latest(version, since=since, until=until) for version in (base, proposal)
    }
    figures = {pk: job.figures for pk, job in jobs.items() if job and job.figures}
    both_done = len(figures) == 2
    context = {
        "base": base,
        "proposal": proposal,
        "diff": rule_diff(base.rules, proposal.rules),
        "jobs": jobs,
        "base_job": jobs[base.pk],
        "proposal_job": jobs[proposal.pk],
        "base_figures": figures.get(base.pk),
        "proposal_figures": figures.get(proposal.pk),
        "running": any(
            job and job.status in (PolicyReplay.Status.QUEUED, PolicyReplay.Status.RUNNING)
            for job in jobs.values()
        ),
        "chart": policy_charts.cost_quality(base, proposal, figures) if both_done else None,
        "examples": changed_examples(base, proposal, hidden=labels.blind_to(person(request))),
        "since": since,
        "until": until,
        "activate_form": ActivateForm()
        if request.user.has_perm("review.activate_policyversion")
        and proposal.status != PolicyVersion.Status.ACTIVE
        else None,
    }
    return render(request, "review/policy_compare.html", context)


def _version(number: str | None) -> PolicyVersion | None:
    if not number or not number.isdigit():
        return None
    return PolicyVersion.objects.filter(number=int(number)).first()


@require_POST
@requires("review.add_policyreplay")
def replay_both(request: HttpRequest) -> HttpResponse:
    since, until = replay.default_range()
    numbers = [request.POST.get("base"), request.POST.get("proposal")]
    versions = [v for v in (_version(n) for n in numbers) if v is not None]
    for version in versions:
        if replay.latest(version, since=since, until=until) is None:
            _enqueue_replay(version, since, until, request)
    query = f"base={versions[0].number}&proposal={versions[-1].number}" if versions else ""
    from django.urls import reverse

    return redirect(f"{reverse('policy-compare')}?{query}")


@require_POST
@requires("review.activate_policyversion")
def activate(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(PolicyVersion, number=number)
    form = ActivateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "An activation needs a note saying why.")
        return redirect(_compare_url(version))
    try:
        policy.activate(version, by=person(request), note=form.cleaned_data["note"])
    except policy.ActivationConflict as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{version} is active; gateways get it on their next poll.")
    return redirect("policy", number)


def rule_diff(base: dict[str, Any], proposal: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, before, after) for every rule that differs."""
    rows = []
    if base.get("tiers") != proposal.get("tiers"):
        rows.append(("score ladder", " < ".join(base["tiers"]), " < ".join(proposal["tiers"])))
    old_b, new_b = base.get("score_boundaries", []), proposal.get("score_boundaries", [])
    ladder = proposal["tiers"]
    for i in range(max(len(old_b), len(new_b))):
        before = f"{old_b[i]:.3f}" if i < len(old_b) else "–"
        after = f"{new_b[i]:.3f}" if i < len(new_b) else "–"
        if before != after:
            gap = f"{ladder[i]}→{ladder[i + 1]}" if i + 1 < len(ladder) else f"gap {i + 1}"
            rows.append((f"boundary {gap}", before, after))
    if base.get("default_tier") != proposal.get("default_tier"):
        rows.append(("default tier", base.get("default_tier", "–"), proposal["default_tier"]))
    old_k = {tuple(r["keywords"]): r["tier"] for r in base.get("keyword_rules", [])}
    new_k = {tuple(r["keywords"]): r["tier"] for r in proposal.get("keyword_rules", [])}
    for words in sorted(set(old_k) | set(new_k)):
        if old_k.get(words) != new_k.get(words):
            what = "keywords " + ", ".join(words)
            rows.append((what, old_k.get(words, "–"), new_k.get(words, "–")))
    old_c, new_c = base.get("category_rules", {}), proposal.get("category_rules", {})
    for category in sorted(set(old_c) | set(new_c)):
        if old_c.get(category) != new_c.get(category):
            rows.append(
                (f"category {category}", _bounds(old_c.get(category)), _bounds(new_c.get(category)))
            )
    old_l = {r["min_characters"]: r["min_tier"] for r in base.get("length_rules", [])}
    new_l = {r["min_characters"]: r["min_tier"] for r in proposal.get("length_rules", [])}
    for length in sorted(set(old_l) | set(new_l)):
        if old_l.get(length) != new_l.get(length):
            rows.append(
                (f"prompts of {length}+ chars", old_l.get(length, "–"), new_l.get(length, "–"))
            )
    return rows


def _bounds(rule: dict[str, str] | None) -> str:
    if not rule:
        return "–"
    return ", ".join(f"{key.removesuffix('_tier')} {value}" for key, value in rule.items())


def changed_examples(
    base: PolicyVersion, proposal: PolicyVersion, *, limit: int = 25, hidden: set[int] | None = None
) -> list[dict[str, Any]]:
    """Labelled decisions the two versions route differently, fixes first: the evidence behind
    each change. ``hidden``: decisions whose labels the viewer may not see yet (their right tier
    would tell another reviewer's verdict)."""
    data = proposals.labelled_requests()
    if not len(data.right):
        return []
    before, after = proposals.picks(base.rules, data), proposals.picks(proposal.rules, data)
    changed = [
        i for i in np.nonzero(before != after)[0] if data.decision_ids[i] not in (hidden or set())
    ]
    names = data.tier_names
    rows = []
    for i in changed:
        right = int(data.right[i])
        effect = "fixes" if after[i] == right else "introduces" if before[i] == right else "changes"
        rows.append(
            {
                "decision_id": data.decision_ids[i],
                "category": data.category[i],
                "score": None if np.isnan(data.score[i]) else float(data.score[i]),
                "before": names[int(before[i])],
                "after": names[int(after[i])],
                "right": names[right],
                "effect": effect,
            }
        )
    order = {"fixes": 0, "introduces": 1, "changes": 2}
    rows.sort(key=lambda row: (order[row["effect"]], row["decision_id"]))
    rows = rows[:limit]
    prompts = dict(
        Decision.objects.filter(pk__in=[row["decision_id"] for row in rows]).values_list(
            "pk", "prompt_text"
        )
    )
    for row in rows:
        row["prompt"] = prompts.get(row["decision_id"], "")
    return rows
