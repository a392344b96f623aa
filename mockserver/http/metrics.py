"""`GET /_mock/metrics`: the mock's state in Prometheus' text format, read at scrape time.

Nothing is counted on the request path: the collector reads what the mock already keeps
(the journal's tally, the store, the server's connections) when Prometheus asks. Each mock
has its own `CollectorRegistry`, never the process-wide one, so two mocks in one process
never mix their numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.service.tasks import TaskStatus
from vidu_lipsync_mock.state import MockState

__all__ = ["METRICS_MEDIA_TYPE", "PREFIX", "MockCollector", "metrics_registry", "metrics_text"]

#: Every metric's name starts with this.
PREFIX = "vidu_lipsync_mock"

METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST


class MockCollector(Collector):
    """One mock's metrics, made from its state each time they are collected."""

    def __init__(self, state: MockState, connections: Connections) -> None:
        self.state = state
        self.connections = connections

    def collect(self) -> Iterator[Metric]:
        state = self.state
        journal = state.journal
        tally = journal.tally()
        requests = CounterMetricFamily(
            f"{PREFIX}_requests",
            "Requests to the provider's API, by route, status (0: no answer) and fault",
            labels=["route", "status", "fault"],
        )
        counted = (
            (route, status, fault or "", n) for (route, status, fault), n in tally.requests.items()
        )
        for route, status, fault, count in sorted(counted):
            requests.add_metric([route, str(status), fault], count)
        yield requests
        latency = HistogramMetricFamily(
            f"{PREFIX}_request_duration_seconds",
            "Time the mock took over each request, from its arrival to its journal entry",
        )
        latency.add_metric(
            [],
            [(_bound(bound), float(n)) for bound, n in tally.cumulative()],
            sum_value=tally.seconds,
        )
        yield latency
        tasks = GaugeMetricFamily(
            f"{PREFIX}_tasks", "Tasks the mock keeps, by status", labels=["status"]
        )
        counts: dict[TaskStatus, int] = dict.fromkeys(TaskStatus, 0)
        for snapshot in state.tasks():
            counts[snapshot.status] += 1
        for task_status, count in counts.items():
            tasks.add_metric([task_status.value], count)
        yield tasks
        entries, size = journal.footprint()
        yield GaugeMetricFamily(
            f"{PREFIX}_journal_entries", "Exchanges the journal holds", value=entries
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_journal_bytes",
            "Bytes of the headers and bodies the journal holds",
            value=size,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_journal_dropped",
            "Exchanges the journal's bound pushed out",
            value=journal.dropped,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_open_connections",
            "Connections open to the server (0 in-process: there are no sockets)",
            value=len(self.connections),
        )


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def metrics_registry(state: MockState, connections: Connections) -> CollectorRegistry:
    """A registry of its own for one mock, holding only its collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MockCollector(state, connections))
    return registry


def metrics_text(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text exposition format."""
    return generate_latest(registry)
