"""Pages for people. Thin: query, render. (The home page, the dashboard, is in
``dashboard_views``.)"""

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from review import cases, explorer, labels
from review.access import person, requires
from review.forms import LabelForm
from review.models import Decision


@requires("review.view_decision")
def decisions(request: HttpRequest) -> HttpResponse:
    """The explorer: filters from the query string, one keyset page at a time."""
    form = explorer.FilterForm(request.GET)
    page = (
        explorer.page(form.cleaned_data, blind=labels.blind_to(person(request)))
        if form.is_valid()
        else None
    )
    data = form.cleaned_data if form.is_valid() else {}
    if page:
        blind = labels.blind_decision_ids(d.pk for d in page.decisions)
        for decision in page.decisions:
            shown = labels.visible_labels(decision, request.user, blind_ids=blind)
            decision.shown_labels = shown.labels  # type: ignore[attr-defined]
    context = {
        "form": form,
        "page": page,
        "filters": explorer.query_string(data),
        "next_query": explorer.query_string(data, after=page.next_cursor)
        if page and page.next_cursor
        else None,
        "first_page": not request.GET.get("after"),
    }
    return render(request, "review/decisions.html", context)


@requires("review.view_decision")
def decision_case(request: HttpRequest, pk: int) -> HttpResponse:
    """One decision with all its evidence, outside a round; reviewers can label it here too."""
    decision = get_object_or_404(
        Decision.objects.select_related("gateway", "served_model", "served_tier"), pk=pk
    )
    case = cases.gather(decision, viewer=person(request))
    return render(
        request,
        "review/case.html",
        {
            "case": case,
            "form": label_form_for(case),
            "label_action": reverse("decision-label", args=[decision.pk]),
        },
    )


def label_form_for(case: cases.Case) -> LabelForm:
    own = case.own_label
    if own is None:
        return LabelForm()
    return LabelForm(
        initial={"verdict": own.verdict, "right_tier": own.right_tier, "note": own.note}
    )


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and compose healthchecks: 200 when the database answers."""
    try:
        # A query, not just a connection check: a kept-alive connection can outlive the server.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
