"""Pages for exports: the list with each job's progress, a new export from the explorer's
filters, one export's status, its file, and cancelling it. Thin: validate, call
``review.exports.jobs``, redirect or render."""

from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from review.access import person, requires
from review.detection import Detector
from review.exports import formats, jobs, records
from review.models import Export

FORMAT_HELP = {
    Export.Format.JSONL: "One record per decision: prompt, features, served model and tier, "
    "outcome, flags, every label, the agreed right tier.",
    Export.Format.CSV: "The same fields; lists and objects as JSON text; safe to open in a "
    "spreadsheet.",
    Export.Format.PARQUET: "The same fields as typed columns.",
    Export.Format.ROUTELLM_PAIRS: "Preference rows (model_a, model_b, winner), only where the "
    "labels compare a cheaper and a stronger tier.",
    Export.Format.ROUTELLM_EVAL: "prompt plus one True/False column per tier, from the agreed "
    "right tier.",
    Export.Format.HF_DATASET: "A zip of a datasets folder: Parquet splits and a dataset card.",
}


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[(value, label) for value, label in Export.Format.choices],
        initial=Export.Format.JSONL,
        widget=forms.RadioSelect,
    )
    test_percent = forms.IntegerField(
        label="Test split (%)",
        min_value=0,
        max_value=99,
        initial=0,
        required=False,
        help_text="0: no split. Otherwise this share of decisions is marked test, by a hash of "
        "the event id, so every export agrees.",
    )
    # The explorer's query string, as the explorer page links here with it.
    filters = forms.CharField(widget=forms.HiddenInput, required=False, max_length=4000)


def _filters_from(params: QueryDict) -> dict[str, str]:
    # The explorer's paging is not a filter: an export holds every page from the first.
    return {name: str(value) for name, value in params.items() if name not in records.PAGING}


@requires("review.view_export")
def export_list(request: HttpRequest) -> HttpResponse:
    exports = list(Export.objects.select_related("created_by")[:100])
    context = {
        "exports": exports,
        "polling": any(export.is_active for export in exports),
        "retention_days": settings.EXPORT_RETENTION_DAYS,
    }
    return render(request, "review/exports.html", context)


@requires("review.add_export", "review.view_decision")
def export_new(request: HttpRequest) -> HttpResponse:
    """GET: the explorer's filters (from the query string) with their row count, and a choice
    of format. POST: create the export and go to it."""
    if request.method == "POST":
        form = ExportForm(request.POST)
        filters = _filters_from(QueryDict(request.POST.get("filters", "")))
    else:
        filters = _filters_from(request.GET)
        form = ExportForm(initial={"filters": urlencode(filters)})
    filter_errors: dict[str, str] = {}
    rows = None
    try:
        data = records.clean_filters(filters)
        rows = records.Selection(data=data, detector_version=Detector.current().version).count()
    except records.InvalidExport as invalid:
        filter_errors = invalid.fields
    if request.method == "POST" and form.is_valid() and not filter_errors:
        export = jobs.create_export(
            export_format=form.cleaned_data["format"],
            filters=filters,
            test_percent=form.cleaned_data["test_percent"] or 0,
            created_by=person(request),
        )
        export.refresh_from_db()  # an eager (embedded) run has finished by now
        if export.status == Export.Status.DONE:
            messages.success(request, f"Export {export.pk} is ready: {export.row_count:,} rows.")
        else:
            messages.success(request, f"Export {export.pk} started.")
        return redirect("export", export.pk)
    context = {
        "form": form,
        "filters": filters,
        "filter_errors": filter_errors,
        "rows": rows,
        "format_help": FORMAT_HELP,
        "explorer_url": f"{reverse('decisions')}?{urlencode(filters)}",
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "review/exports_new.html", context, status=status)


@requires("review.view_export")
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    export = get_object_or_404(Export.objects.select_related("created_by"), pk=pk)
    viewer = person(request)
    context: dict[str, Any] = {
        "export": export,
        "format_help": FORMAT_HELP.get(Export.Format(export.format), ""),
        "can_cancel": jobs.may_cancel(export, viewer),
        "can_download": viewer.has_perm("review.download_export")
        and jobs.file_of(export) is not None,
        "explorer_url": f"{reverse('decisions')}?{urlencode(export.filters)}",
        "filters_query": urlencode(export.filters),
        "summary_rows": _summary_rows(export.summary),
    }
    return render(request, "review/exports_detail.html", context)


def _summary_rows(summary: dict[str, Any]) -> list[tuple[str, list[tuple[str, int]]]]:
    titles = [
        ("splits", "Rows per split"),
        ("verdicts", "Agreed verdicts"),
        ("right_tiers", "Agreed right tiers"),
        ("agreement", "Agreement"),
    ]
    return [
        (title, sorted(summary[key].items(), key=lambda item: -item[1]))
        for key, title in titles
        if summary.get(key)
    ]


@requires("review.download_export")
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    export = get_object_or_404(Export, pk=pk)
    path = jobs.file_of(export)
    if path is None:
        raise Http404(f"Export {pk} has no file to download (it is {export.status}).")
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=jobs.download_name(export),
        content_type=formats.writer_for(export.format).content_type,
    )
    response["X-Checksum-SHA256"] = export.checksum
    # ``requires`` is typed for HttpResponse; Django serves a streamed file response alike.
    return cast(HttpResponse, response)


@require_POST
@requires("review.view_export")
def export_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    export = get_object_or_404(Export, pk=pk)
    if not export.is_active:
        messages.info(request, f"Export {pk} had already finished ({export.status}).")
        return redirect("export", pk)
    if not jobs.may_cancel(export, person(request)):
        raise PermissionDenied("only whoever made an export, or a policy owner, may cancel it")
    if jobs.cancel_export(export=export):
        messages.success(request, f"Export {pk} cancelled.")
    else:
        messages.info(request, f"Export {pk} finished before it could be cancelled.")
    return redirect("export", pk)
