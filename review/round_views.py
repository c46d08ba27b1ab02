"""Pages of the weekly review: the rounds, a round's progress, the queue, the audit trail."""

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from review import cases, labels, rounds
from review.access import person, requires
from review.forms import LabelForm, OpenRoundForm
from review.models import Decision, LabelEvent, QueueItem, ReviewRound, Tier
from review.views import label_form_for


@requires("review.view_reviewround")
def round_list(request: HttpRequest) -> HttpResponse:
    review_rounds = ReviewRound.objects.annotate(item_count=Count("items"))
    context = {
        "rounds": [(r, rounds.progress(r)) for r in review_rounds[:26]],
        "open_form": OpenRoundForm() if request.user.has_perm("review.add_reviewround") else None,
    }
    return render(request, "review/rounds.html", context)


@require_POST
@requires("review.add_reviewround")
def open_round(request: HttpRequest) -> HttpResponse:
    form = OpenRoundForm(request.POST)
    if not form.is_valid():
        review_rounds = ReviewRound.objects.all()[:26]
        context = {"rounds": [(r, rounds.progress(r)) for r in review_rounds], "open_form": form}
        return render(request, "review/rounds.html", context, status=400)
    options = {name: value for name, value in form.cleaned_data.items() if name != "week_start"}
    review_round, created = rounds.open_round(week_start=form.cleaned_data["week_start"], **options)
    if created:
        queued = review_round.items.count()
        messages.success(request, f"Round {review_round} opened with {queued} items.")
    else:
        messages.info(request, f"Round {review_round} was already open; nothing changed.")
    return redirect("round", review_round.pk)


@requires("review.view_reviewround")
def round_detail(request: HttpRequest, round_id: int) -> HttpResponse:
    review_round = get_object_or_404(ReviewRound, pk=round_id)
    items = (
        review_round.items.select_related(
            "decision__served_tier", "decision__served_model", "flag", "locked_by"
        )
        .annotate(labels_given=Count("decision__labels"))
        .order_by("position")
    )
    context = {
        "round": review_round,
        "progress": rounds.progress(review_round),
        "items": Paginator(items, 100).get_page(request.GET.get("page")),
        "now": timezone.now(),
    }
    return render(request, "review/round.html", context)


@requires("review.view_reviewround", "review.add_label")
def round_next(request: HttpRequest, round_id: int) -> HttpResponse:
    """Claim the reviewer's next item (or the one they hold) and go to it."""
    review_round = get_object_or_404(ReviewRound, pk=round_id)
    return _go_to_next(request, review_round)


@require_POST
@requires("review.view_reviewround", "review.add_label")
def skip_item(request: HttpRequest, round_id: int, item_id: int) -> HttpResponse:
    """Release the item (if the reviewer holds it) and claim the next one after it. A POST, so
    a link or image on another site cannot make a reviewer skip."""
    item = get_object_or_404(
        QueueItem.objects.select_related("round"), round_id=round_id, pk=item_id
    )
    rounds.release(item, reviewer=person(request))
    return _go_to_next(request, item.round, after_position=item.position)


def _go_to_next(
    request: HttpRequest, review_round: ReviewRound, *, after_position: int | None = None
) -> HttpResponse:
    item = rounds.next_item(
        review_round=review_round, reviewer=person(request), after_position=after_position
    )
    if item is None:
        context = {"round": review_round, "progress": rounds.progress(review_round)}
        return render(request, "review/round_done.html", context)
    return redirect("queue-item", review_round.pk, item.pk)


@requires("review.view_reviewround", "review.view_decision")
def queue_item(request: HttpRequest, round_id: int, item_id: int) -> HttpResponse:
    item = get_object_or_404(
        QueueItem.objects.select_related(
            "round",
            "flag",
            "locked_by",
            "decision__gateway",
            "decision__served_model",
            "decision__served_tier",
        ),
        round_id=round_id,
        pk=item_id,
    )
    reviewer = person(request)
    if request.method == "POST":
        if not reviewer.has_perm("review.add_label"):
            return HttpResponse("Labelling needs the reviewer role.", status=403)
        form = LabelForm(request.POST)
        status = 400
        if form.is_valid() and not rounds.can_label(item, reviewer):
            messages.error(
                request, f"{item.locked_by} holds this item now; your label is not saved."
            )
        elif form.is_valid():
            try:
                _save(form, item.decision, reviewer)
            except labels.ChangeRefused as refused:
                messages.error(request, str(refused))
                status = 403
            else:
                rounds.release(item, reviewer=reviewer)
                return redirect("round-next", item.round_id)
    else:
        form, status = None, 200
    case = cases.gather(item.decision, viewer=reviewer)
    previous = rounds.previous_item(
        review_round=item.round,
        reviewer=reviewer,
        current=item,
    )
    context = {
        "case": case,
        "item": item,
        "round": item.round,
        "form": form or label_form_for(case),
        "can_label": rounds.can_label(item, reviewer),
        "label_action": reverse("queue-item", args=[item.round_id, item.pk]),
        "previous": previous,
        "progress": rounds.progress(item.round),
    }
    return render(request, "review/case.html", context, status=status)


@require_POST
@requires("review.view_decision", "review.add_label")
def decision_label(request: HttpRequest, pk: int) -> HttpResponse:
    """Label a decision from its case page outside a round."""
    decision = get_object_or_404(Decision, pk=pk)
    form = LabelForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            _save(form, decision, person(request))
        except labels.ChangeRefused as refused:
            messages.error(request, str(refused))
            status = 403
        else:
            messages.success(request, "Label saved.")
            return redirect("decision", decision.pk)
    case = cases.gather(decision, viewer=person(request))
    context = {
        "case": case,
        "form": form,
        "label_action": reverse("decision-label", args=[decision.pk]),
    }
    return render(request, "review/case.html", context, status=status)


def _save(form: LabelForm, decision: Decision, reviewer: User) -> None:
    verdict = form.cleaned_data["verdict"]
    right_tier = form.cleaned_data["right_tier"] or cases.suggested_tier(
        decision, verdict, list(Tier.objects.all())
    )
    labels.record_label(
        decision=decision,
        reviewer=reviewer,
        verdict=verdict,
        right_tier=right_tier,
        note=form.cleaned_data["note"],
        source=LabelEvent.Source.REVIEW,
        may_change=reviewer.has_perm("review.change_label"),
    )


@requires("review.view_label", "review.view_decision")
def label_audit(request: HttpRequest) -> HttpResponse:
    """Every label given or changed, newest first, filterable by reviewer and decision."""
    viewer = person(request)
    events = LabelEvent.objects.select_related("reviewer", "right_tier", "decision").exclude(
        Q(decision_id__in=labels.blind_to(viewer)) & ~Q(reviewer=viewer)
    )
    reviewer = request.GET.get("reviewer", "")
    if reviewer:
        events = events.filter(reviewer__username=reviewer)
    decision = request.GET.get("decision", "")
    if decision.isdigit():
        events = events.filter(decision_id=int(decision))
    context = {
        "events": Paginator(events, 100).get_page(request.GET.get("page")),
        "reviewer": reviewer,
        "decision": decision,
    }
    return render(request, "review/audit.html", context)
