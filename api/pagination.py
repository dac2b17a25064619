"""Lists come in pages: `?page=N&page_size=M`, M capped at settings.API_MAX_PAGE_SIZE."""
from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import PageNumberPagination

from rules.pagination import LogPaginator


class PageSizePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # read per request so a deployment (or a test) can change it
        return settings.API_MAX_PAGE_SIZE


class LogPagination(PageSizePagination):
    """The decision log's pages: the whole log is counted by its head, not row by row."""

    django_paginator_class = LogPaginator
