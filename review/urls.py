"""Pages for people. Machine endpoints live in routing_app/urls.py with the API."""

from django.urls import path

from review import dashboard_views, export_views, policy_views, round_views, views

urlpatterns = [
    path("", dashboard_views.dashboard, name="home"),
    path("decisions/", views.decisions, name="decisions"),
    path("decisions/<int:pk>", views.decision_case, name="decision"),
    path("decisions/<int:pk>/label", round_views.decision_label, name="decision-label"),
    path("review/", round_views.round_list, name="rounds"),
    path("review/open", round_views.open_round, name="open-round"),
    path("review/audit", round_views.label_audit, name="label-audit"),
    path("review/<int:round_id>/", round_views.round_detail, name="round"),
    path("review/<int:round_id>/next", round_views.round_next, name="round-next"),
    path("review/<int:round_id>/items/<int:item_id>", round_views.queue_item, name="queue-item"),
    path(
        "review/<int:round_id>/items/<int:item_id>/skip",
        round_views.skip_item,
        name="queue-item-skip",
    ),
    path("review/<int:round_id>/report", dashboard_views.round_report, name="round-report"),
    path(
        "review/<int:round_id>/report.pdf",
        dashboard_views.round_report_pdf,
        name="round-report-pdf",
    ),
    path("policy/", policy_views.policy_list, name="policies"),
    path("policy/propose", policy_views.propose, name="policy-propose"),
    path("policy/new", policy_views.create_version, name="policy-new"),
    path("policy/compare", policy_views.compare, name="policy-compare"),
    path("policy/compare/replay", policy_views.replay_both, name="policy-replay-both"),
    path("policy/v<int:number>", policy_views.policy_detail, name="policy"),
    path("policy/v<int:number>/replay", policy_views.start_replay, name="policy-replay"),
    path("policy/v<int:number>/activate", policy_views.activate, name="policy-activate"),
    path("exports/", export_views.export_list, name="exports"),
    path("exports/new", export_views.export_new, name="export-new"),
    path("exports/<int:pk>", export_views.export_detail, name="export"),
    path("exports/<int:pk>/download", export_views.export_download, name="export-download"),
    path("exports/<int:pk>/cancel", export_views.export_cancel, name="export-cancel"),
]
