"""Pages for people. Machine endpoints live in routing_app/urls.py with the API."""

from django.urls import path

from review import round_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("decisions/", views.decisions, name="decisions"),
    path("decisions/<int:pk>", views.decision_case, name="decision"),
    path("decisions/<int:pk>/label", round_views.decision_label, name="decision-label"),
    path("review/", round_views.round_list, name="rounds"),
    path("review/open", round_views.open_round, name="open-round"),
    path("review/audit", round_views.label_audit, name="label-audit"),
    path("review/<int:round_id>/", round_views.round_detail, name="round"),
    path("review/<int:round_id>/next", round_views.round_next, name="round-next"),
    path("review/<int:round_id>/items/<int:item_id>", round_views.queue_item, name="queue-item"),
]
