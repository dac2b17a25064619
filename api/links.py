"""Links to the API's resources, as `rest_framework.reverse.reverse` writes them, without matching
the URL patterns again for every link.

Reversing a name walks the resolver's patterns and checks the values against each candidate: about
27 µs a link, a tenth of a submission's answer and several milliseconds of a page of a hundred rows
with two links each. Here a name is reversed once per set of arguments, and kind of each value, with
marks in place of the values, and each link is that path with the values put in. Only integers and
lowercase slugs (`eu-ai-act`) are put in that way: they need no quoting, and a route whose pattern
takes the mark of their kind (digits; a lowercase slug) takes them. Any other value, a route that
refuses the mark, a request carrying a format override or a versioning scheme goes through `reverse`.
"""
from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf
from django.urls import reverse as django_reverse
from rest_framework.reverse import reverse
from rest_framework.settings import api_settings

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Marks no path holds otherwise: digits for an integer, a lowercase slug for a slug.
_MARKS = {"int": "90817263544536271{:02d}", "slug": "zqxmark{:02d}slug90817263"}
_paths: dict[tuple[Any, ...], str | None] = {}
PATHS_KEPT = 256  # names by arguments, script prefixes and URL confs: a few dozen in use


def api_url(viewname: str, request: Any = None, **kwargs: Any) -> str:
    """`reverse(viewname, kwargs=kwargs, request=request)`: the absolute URL when given a request."""
    values, kinds = {}, {}
    for name, value in kwargs.items():
        if isinstance(value, int) and not isinstance(value, bool):
            values[name], kinds[name] = str(value), "int"
        elif isinstance(value, str) and _SLUG.fullmatch(value):
            values[name], kinds[name] = value, "slug"
        else:
            return reverse(viewname, kwargs=kwargs, request=request)
    if request is not None and (getattr(request, "versioning_scheme", None) is not None
                                or api_settings.URL_FORMAT_OVERRIDE in request.GET):
        return reverse(viewname, kwargs=kwargs, request=request)
    names = tuple(sorted(values))
    key = (viewname, tuple((name, kinds[name]) for name in names), get_script_prefix(),
           get_urlconf() or settings.ROOT_URLCONF)
    if key in _paths:
        path = _paths[key]
    else:
        if len(_paths) >= PATHS_KEPT:
            _paths.clear()
        try:
            path = django_reverse(viewname, kwargs={name: _MARKS[kinds[name]].format(i) for i, name in enumerate(names)})
        except NoReverseMatch:
            path = None  # the route refuses the mark: each link of this kind is reversed
        _paths[key] = path
    if path is None:
        return reverse(viewname, kwargs=kwargs, request=request)
    for i, name in enumerate(names):
        path = path.replace(_MARKS[kinds[name]].format(i), values[name])
    return request.build_absolute_uri(path) if request is not None else path
