"""The API's routes: `/api/v1/...`, the OpenAPI schema at `/api/schema/` and Swagger UI at `/api/docs/`.

Anything else under `/api/` is a JSON 404 (the last pattern): new API routes go above it."""
from __future__ import annotations

from csp.decorators import csp_update
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from .exceptions import error_body
from .views.designations import DesignationViewSet
from .views.evaluations import EvaluationView
from .views.fulfilments import FulfilmentViewSet, IncidentViewSet
from .views.obligations import ObligationViewSet
from .views.registry import ClusterViewSet, ModelViewSet, OrganisationViewSet
from .views.reports import ReportViewSet
from .views.rules import AcceleratorViewSet, DeterminationViewSet, RegimeViewSet, RuleVersionViewSet, RunViewSet

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("organisations", OrganisationViewSet, basename="organisation")
router.register("models", ModelViewSet, basename="model")
router.register("clusters", ClusterViewSet, basename="cluster")
router.register("accelerators", AcceleratorViewSet, basename="accelerator")
router.register("regimes", RegimeViewSet, basename="regime")
router.register("determinations", DeterminationViewSet, basename="determination")
router.register("runs", RunViewSet, basename="run")
router.register("reports", ReportViewSet, basename="report")
router.register("designations", DesignationViewSet, basename="designation")
router.register("fulfilments", FulfilmentViewSet, basename="fulfilment")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("obligations", ObligationViewSet, basename="obligation")


@csrf_exempt
def not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    return JsonResponse(error_body("no such API endpoint"), status=404)


versions = RuleVersionViewSet.as_view({"get": "list"})
version = RuleVersionViewSet.as_view({"get": "retrieve"})

urlpatterns = [
    path("v1/regimes/<slug:regime_slug>/versions/", versions, name="ruleversion-list"),
    path("v1/regimes/<slug:regime_slug>/versions/<int:pk>/", version, name="ruleversion-detail"),
    path("v1/evaluations/", EvaluationView.as_view(), name="evaluations"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's script is served as a file (the split view), so the page needs no inline script;
    # only its small inline style is allowed.
    path("docs/", csp_update({"style-src": ["'unsafe-inline'"]})(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
         name="docs"),
    re_path(r"^", not_found),
]
