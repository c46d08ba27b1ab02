"""The dashboard (the home page) and the weekly report. Thin: read the filters, ask
``metrics``/``reports``, render."""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string

from review import charts, metrics, reports
from review.access import person, requires
from review.models import CatalogModel, ReviewRound

# The filters a preset link keeps: a preset replaces the days, and with them a policy's days.
KEPT_BY_PRESETS = ("gateway", "tier", "model", "category")


@requires("review.view_decision")
def dashboard(request: HttpRequest) -> HttpResponse:
    form = metrics.DashboardForm(request.GET)
    context = {
        "form": form,
        "presets": _presets(request),
        "model_names": CatalogModel.objects.order_by("name").values_list("name", flat=True),
        "unclassified_models": CatalogModel.objects.filter(tier__isnull=True),
    }
    if not form.is_valid():
        return render(request, "review/dashboard.html", context, status=400)
    board = metrics.board(form.cleaned_data["selection"])
    drawn = charts.build(board)
    context.update(
        board=board,
        selection=board.selection,
        kpis=metrics.kpis(board),
        charts=drawn,
        figures=charts.figures(drawn),
    )
    return render(request, "review/dashboard.html", context)


def _presets(request: HttpRequest) -> list[tuple[int, str, bool]]:
    """(days, query string, whether it is the range shown) for each preset link."""
    kept = {name: request.GET[name] for name in KEPT_BY_PRESETS if request.GET.get(name)}
    custom = any(request.GET.get(name) for name in ("since", "until", "policy"))
    chosen = request.GET.get("days") or str(metrics.DEFAULT_DAYS)
    return [
        (days, urlencode({"days": days, **kept}), not custom and chosen == str(days))
        for days in metrics.PRESETS
    ]


@requires("review.view_reviewround", "review.view_decision")
def round_report(request: HttpRequest, round_id: int) -> HttpResponse:
    review_round = get_object_or_404(ReviewRound, pk=round_id)
    report = reports.gather(review_round, viewer=person(request))
    return render(request, "review/report.html", {"report": report})


@requires("review.view_reviewround", "review.view_decision")
def round_report_pdf(request: HttpRequest, round_id: int) -> HttpResponse:
    """The report as a PDF file, printed by headless Chromium from the same template."""
    review_round = get_object_or_404(ReviewRound, pk=round_id)
    report = reports.gather(review_round, viewer=person(request))
    html = render_to_string(
        "review/report_print.html",
        {
            "report": report,
            "stylesheet": reports.stylesheet(),
            "base_url": request.build_absolute_uri("/"),
        },
        request=request,
    )
    try:
        pdf = reports.print_pdf(html)
    except reports.PdfUnavailable as error:
        return HttpResponse(f"{error}\n", status=503, content_type="text/plain")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="routing-review-{review_round}.pdf"'
    return response
