"""The API's links (`api.links.api_url`) are exactly what `rest_framework.reverse.reverse` writes, for
every route the answers link to, behind a script prefix too; values and requests it does not write
itself go through `reverse`."""
from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, clear_script_prefix, set_script_prefix
from rest_framework.request import Request
from rest_framework.reverse import reverse
from rest_framework.test import APIRequestFactory

from api import links
from api.links import api_url
from api.serializers.registry import ROUTE

ROUTES = [
    *[(f"api:{route}-detail", {"pk": 7}) for route in ROUTE.values() if route != ROUTE["organisation"]],
    (f"api:{ROUTE['organisation']}-detail", {"slug": "acme-labs-2"}),
    ("api:determination-detail", {"pk": 123456}),
    ("api:run-detail", {"pk": 1}),
    ("api:run-changes", {"pk": 42}),
    ("api:determination-list", {}),
    ("api:ruleversion-detail", {"regime_slug": "eu-ai-act", "pk": 3}),
    ("api:ruleversion-list", {"regime_slug": "us-eo-14110"}),
    ("api:regime-detail", {"slug": "ca-sb-53"}),
]


def request(path: str = "/api/v1/models/", **extra: str) -> Request:
    drf = Request(APIRequestFactory().get(path, HTTP_HOST="testserver", **extra))
    drf.versioning_scheme = None  # as `APIView.initial` leaves it with no versioning configured
    return drf


@pytest.fixture(autouse=True)
def _no_paths_kept():
    links._paths.clear()
    yield
    links._paths.clear()
    clear_script_prefix()


@pytest.mark.parametrize(("name", "kwargs"), ROUTES)
def test_a_link_is_what_reverse_writes(name, kwargs):
    expected = reverse(name, kwargs=kwargs or None, request=request())
    assert api_url(name, request(), **kwargs) == expected
    assert api_url(name, request(), **kwargs) == expected  # and again, from the path kept
    assert api_url(name, **kwargs) == reverse(name, kwargs=kwargs or None)  # without a request: the path


def test_each_value_lands_in_its_own_place():
    first = api_url("api:ruleversion-detail", request(), regime_slug="eu-ai-act", pk=3)
    second = api_url("api:ruleversion-detail", request(), pk=30, regime_slug="ca-sb-53")
    assert first.endswith("/regimes/eu-ai-act/versions/3/") and second.endswith("/regimes/ca-sb-53/versions/30/")


def test_behind_a_script_prefix_the_link_carries_it():
    set_script_prefix("/registry/")
    expected = reverse("api:run-detail", kwargs={"pk": 5}, request=request())
    assert expected.startswith("http://testserver/registry/api/")
    assert api_url("api:run-detail", request(), pk=5) == expected
    clear_script_prefix()
    assert api_url("api:run-detail", request(), pk=5) == reverse("api:run-detail", kwargs={"pk": 5}, request=request())


def test_a_format_override_in_the_request_is_kept_as_reverse_keeps_it():
    with_format = request("/api/v1/models/?format=json")
    expected = reverse("api:run-detail", kwargs={"pk": 5}, request=with_format)
    assert expected.endswith("?format=json")
    assert api_url("api:run-detail", with_format, pk=5) == expected


@pytest.mark.parametrize("value", ["a b", "ü", "x/y", "Acme", "acme_labs", "-acme", True])
@pytest.mark.parametrize("route", ["api:regime-detail", f"api:{ROUTE['organisation']}-detail"])
def test_values_it_does_not_write_itself_go_through_reverse(route, value):
    try:
        expected = reverse(route, kwargs={"slug": value}, request=request())
    except NoReverseMatch:
        with pytest.raises(NoReverseMatch):
            api_url(route, request(), slug=value)
    else:
        assert api_url(route, request(), slug=value) == expected
    assert not links._paths  # nothing kept for them


def test_a_route_that_refuses_the_mark_is_reversed_each_time():
    """The organisations' route takes lowercase slugs only: a key given as an integer is its mark's
    kind there, and refused or not as `reverse` refuses it."""
    route = f"api:{ROUTE['organisation']}-detail"
    assert api_url(route, request(), slug=42) == reverse(route, kwargs={"slug": 42}, request=request())
    with pytest.raises(NoReverseMatch):
        reverse("api:run-detail", kwargs={"pk": "acme"})
    with pytest.raises(NoReverseMatch):
        api_url("api:run-detail", request(), pk="acme")


def test_the_paths_kept_are_bounded():
    for number in range(links.PATHS_KEPT + 10):
        set_script_prefix(f"/p{number}/")
        api_url("api:run-detail", request(), pk=1)
    assert len(links._paths) <= links.PATHS_KEPT
