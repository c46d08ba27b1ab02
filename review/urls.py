"""Pages for people. Machine endpoints live in routing_app/urls.py with the API."""

from django.urls import path

from review import policy_views, round_views, views

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
    path("policy/", policy_views.policy_list, name="policies"),
    path("policy/propose", policy_views.propose, name="policy-propose"),
    path("policy/new", policy_views.create_version, name="policy-new"),
    path("policy/compare", policy_views.compare, name="policy-compare"),
    path("policy/compare/replay", policy_views.replay_both, name="policy-replay-both"),
    path("policy/v<int:number>", policy_views.policy_detail, name="policy"),
    path("policy/v<int:number>/replay", policy_views.start_replay, name="policy-replay"),
    path("policy/v<int:number>/activate", policy_views.activate, name="policy-activate"),
]
