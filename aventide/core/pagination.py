"""API pagination: limit/offset with a capped page size."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """``?limit=&offset=``; default 50, never more than 100 rows per page."""

    default_limit = 50
    max_limit = 100
