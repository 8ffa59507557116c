"""The metrics API: one call logs the event and counts it for Prometheus.

``emit("METRIC_REALTIME_AUTHZ_DENIED", labels={"reason": "NOT_ROOM_MEMBER"}, stream=...)``
writes one JSON log line (event = the metric name, fields redacted like every log line) and
increments ``aventide_events_total{name=..., <labels>}``. Labels must be low-cardinality
(codes, routes, methods) -- never ids, emails or free text. ``durationMs`` is also observed
in ``aventide_event_duration_seconds{name=...}``.

Counters live in this process's registry (prometheus-client). With several processes (uvicorn
workers, Celery workers) set ``PROMETHEUS_MULTIPROC_DIR`` to a shared, emptied-at-deploy
directory before the processes start: every process then writes its samples there and
``/metrics`` serves the sum of all of them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from aventide.core.logging import get_logger

REGISTRY = CollectorRegistry(auto_describe=True)
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{2,80}$")
_LABEL_RE = re.compile(r"^[a-z][a-zA-Z0-9_]{0,40}$")
_lock = threading.Lock()
_counters: dict[tuple[str, ...], Counter] = {}
_logger = get_logger("aventide.metrics")

EVENT_DURATION = Histogram(
    "aventide_event_duration_seconds",
    "Duration reported by metric events carrying durationMs.",
    ["name"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _counter_for(label_names: tuple[str, ...]) -> Counter:
    with _lock:
        counter = _counters.get(label_names)
        if counter is None:
            suffix = "_".join(label_names)
            metric = "aventide_events_total" if not suffix else f"aventide_events_by_{suffix}"
            counter = Counter(
                metric,
                "Metric events emitted by the application, by name"
                + (f" and {', '.join(label_names)}" if label_names else ""),
                ["name", *label_names],
                registry=REGISTRY,
            )
            _counters[label_names] = counter
        return counter


@dataclass(frozen=True)
class _Series:
    """One (name, labels) pair, resolved once: its cleaned labels, its counter's child and its
    duration histogram's child (``prometheus_client``'s ``labels()`` validates and looks up
    under a lock on every call)."""

    labels: dict[str, str]
    counter: Any
    duration: Any


#: resolved series by (name, raw label items); bounded, since labels are low-cardinality by
#: contract and a caller breaking it must not grow this without end
_series: dict[tuple[str, tuple[tuple[str, Any], ...]], _Series] = {}
_SERIES_MAX = 4096


def _series_for(name: str, labels: Mapping[str, str] | None) -> _Series:
    items = tuple(labels.items()) if labels else ()
    key = (name, items)
    try:
        series = _series.get(key)
        cacheable = True
    except TypeError:  # an unhashable label value: resolved on every call
        series, cacheable = None, False
    if series is not None:
        return series
    if not _NAME_RE.match(name):
        raise ValueError(f"metric name must be UPPER_SNAKE: {name!r}")
    clean_labels = {k: str(v)[:64] for k, v in sorted(items) if _LABEL_RE.match(k)}
    series = _Series(
        labels=clean_labels,
        counter=_counter_for(tuple(clean_labels)).labels(name=name, **clean_labels),
        duration=EVENT_DURATION.labels(name=name),
    )
    if cacheable and len(_series) < _SERIES_MAX:
        _series[key] = series
    return series


def emit(
    name: str, *, labels: Mapping[str, str] | None = None, log: bool = True, **fields: Any
) -> None:
    """Log ``name`` with ``fields`` (+labels) and count it. Never raises for bad labels.

    ``log=False`` counts without the log line: for an event on a hot path whose every
    occurrence is routine (a provider call that succeeded), where the count (and the
    ``durationMs`` histogram) is what ops read and a line per occurrence is only cost."""
    series = _series_for(name, labels)
    if log:
        _logger.info(name, **series.labels, **fields)
    series.counter.inc()
    duration = fields.get("durationMs")
    if isinstance(duration, int | float):
        series.duration.observe(max(duration, 0) / 1000.0)


def exposition() -> bytes:
    """The Prometheus text for ``/metrics``: this process, or every process in multiprocess
    mode (``PROMETHEUS_MULTIPROC_DIR``)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in p-c
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def count_of(name: str, **labels: str) -> float:
    """Current count of a metric (tests and the ops shift check read it)."""
    key = tuple(sorted(labels))
    counter = _counters.get(key)
    if counter is None:
        return 0.0
    # prometheus-client strips "_total" from the family name and adds it to the sample.
    value = REGISTRY.get_sample_value(f"{counter._name}_total", {"name": name, **labels})
    return value or 0.0
