"""Django URLs: catalogue endpoints (DRF), admin. Chat and other upstream-bound endpoints are
Channels consumers routed in `g4fsite/asgi_routes.py`."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from catalogue.admin_dashboard import dashboard_view
from completions import gui_views, views
from completions.conversations import views as conversation_views
from completions.media import views as media_views
from completions.monitoring import usage_views
from completions.monitoring import views as monitoring_views


@views.read_only
def index(request):
    return JsonResponse(
        {"message": "G4F API: an OpenAI-compatible gateway.", "api_base": "/v1", "admin": "/admin/", "docs": "/docs"}
    )


# The OpenAPI document covers these DRF views and, described in completions.openapi.routes, the
# Channels consumers (g4fsite/asgi_routes.py) and the plain Django views.
openapi = SpectacularJSONAPIView.as_view(urlconf=["g4fsite.urls", "completions.openapi.routes"])


urlpatterns = [
    path("", index),
    # The operator's usage dashboard, linked from the admin index (before the admin's own URLs, whose
    # catch-all would answer 404).
    path("admin/", include([path("dashboard/", dashboard_view, name="admin-dashboard")])),
    path("admin/", admin.site.urls),
    path("chat/", gui_views.chat_page, name="gui"),
    path("openapi.json", openapi, name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("v1/conversations", conversation_views.ConversationListView.as_view()),
    path("v1/conversations/<str:conversation_id>", conversation_views.ConversationDetailView.as_view()),
    path("v1/models", views.ModelListView.as_view()),
    path("v1/models/<path:model_name>", views.ModelDetailView.as_view()),
    path("v1/providers", views.ProviderListView.as_view()),
    path("v1/providers/<str:provider_name>", views.ProviderDetailView.as_view()),
    path("api/<str:provider_name>/models", views.ProviderModelListView.as_view()),
    # Generated media; the view answers 404 for any name the media store did not give out.
    re_path(r"^media/(?P<filename>.*)$", media_views.media_serve),
    # Usage reports and monitoring (docs/usage-and-metrics.md).
    path("v1/usage", usage_views.UsageView.as_view()),
    path("metrics", monitoring_views.MetricsView.as_view()),
    path("healthz", monitoring_views.HealthzView.as_view()),
    path("readyz", monitoring_views.ReadyzView.as_view()),
]

handler404 = "completions.views.not_found"
handler500 = "completions.views.server_error"
