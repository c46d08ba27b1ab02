from django.urls import path
from rest_framework import serializers
from rest_framework.generics import CreateAPIView

from review.api import GatewayApiView
from review.models import Decision
from routing_app.urls import urlpatterns as app_urlpatterns


class DecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Decision
        exclude = ["id", "gateway", "served_tier", "received_at", "processed_at"]


class PlainDrfIngest(GatewayApiView, CreateAPIView):
    """The comfortable default: a ModelSerializer(many=True) endpoint, for comparison only."""

    serializer_class = DecisionSerializer

    def get_serializer(self, *args, **kwargs):
        kwargs["many"] = True
        return super().get_serializer(*args, **kwargs)

    def perform_create(self, serializer):
        serializer.save(gateway=self.key(self.request).gateway)


urlpatterns = [
    path("bench/drf-baseline", PlainDrfIngest.as_view()),
    *app_urlpatterns,
]
