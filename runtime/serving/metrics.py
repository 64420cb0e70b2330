"""Prometheus metrics of the predictor gateway, in a dedicated ``CollectorRegistry`` (so several
gateways in one process, e.g. tests, never clash, and ``/metrics`` shows only serving metrics).

==========================================  ==========  ==========================================
metric                                      type        labels / meaning
==========================================  ==========  ==========================================
``mlc_gateway_stage_seconds``               histogram   ``stage``: validate, route, features,
                                                        preprocess, inference, total
``mlc_gateway_requests_total``              counter     ``status``: the HTTP status (200, 400, ...)
``mlc_gateway_degraded_total``              counter     responses computed with store defaults
``mlc_gateway_store_errors_total``          counter     failed online-store reads / group decodes
``mlc_gateway_experiment_assignments_total`` counter    ``experiment``, ``variant``, ``routed``
                                                        (``true``/``false``): live sample ratios
``mlc_gateway_experiment_fallbacks_total``  counter     variant versions that could not serve
                                                        (normal route used instead)
``mlc_gateway_open_connections``            gauge       HTTP connections open now (one thread each)
``mlc_gateway_rejected_connections_total``  counter     connections answered 503 at the
                                                        ``--max-connections`` limit
``mlc_feature_log_records_total``           counter     ``outcome``: written, dropped (queue full),
                                                        failed (the sink failed): the feature log
``mlc_stream_freshness_seconds``            gauge       ``group``, ``quantile`` (0.5, 0.99): event
                                                        time to visible in the store, latest batch
``mlc_stream_last_event_age_seconds``       gauge       ``group``: now - the latest event applied
``mlc_stream_last_write_age_seconds``       gauge       ``group``: now - the job's latest write
==========================================  ==========  ==========================================

Latencies are in seconds (the Prometheus convention); the buckets run from 0.25 ms to 2.5 s,
dense where an online request lives (1-50 ms).

The ``mlc_stream_*`` gauges are read at each scrape, for the real-time feature groups
(``FeatureGroupIR.realtime``), from the freshness records the streaming job writes to the online
store (``mlc.runtime.streaming.status.read_freshness``); a group the job has not reported has no
series. A store failure, or a record that cannot be read, gives no series: never a failed scrape.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from mlc.runtime.serving.predictor import STAGES
from mlc.runtime.streaming.status import read_freshness

LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
                   0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


class ServingMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.stage_seconds = Histogram(
            "mlc_gateway_stage_seconds", "Latency of each predictor stage and of the whole request (seconds).",
            ["stage"], registry=self.registry, buckets=LATENCY_BUCKETS)
        self.requests = Counter("mlc_gateway_requests", "Prediction requests by HTTP status.", ["status"],
                                registry=self.registry)
        self.degraded = Counter("mlc_gateway_degraded", "Responses computed with feature-group defaults "
                                "because the online store failed.", registry=self.registry)
        self.store_errors = Counter("mlc_gateway_store_errors", "Failed online-store reads and record decodes.",
                                    registry=self.registry)
        self.assignments = Counter("mlc_gateway_experiment_assignments", "Experiment assignments of answered "
                                   "requests by experiment, variant and whether the variant routed the request.",
                                   ["experiment", "variant", "routed"], registry=self.registry)
        self.fallbacks = Counter("mlc_gateway_experiment_fallbacks", "Requests whose variant's model version "
                                 "could not serve and took the normal route.", registry=self.registry)
        self.open_connections = Gauge("mlc_gateway_open_connections", "HTTP connections open now (one handler "
                                      "thread each).", registry=self.registry)
        self.rejected_connections = Counter("mlc_gateway_rejected_connections", "Connections answered 503 because "
                                            "the gateway was at its connection limit.", registry=self.registry)
        self.feature_log = Counter("mlc_feature_log_records", "Feature-log records by outcome: written, dropped "
                                   "(the queue was full) or failed (the sink failed).", ["outcome"],
                                   registry=self.registry)
        for stage in STAGES:                 # every series exists from the start (0 counts)
            self.stage_seconds.labels(stage=stage)
        self.streams: StreamCollector | None = None

    def watch_streams(self, predictor: Any) -> None:
        """Export the freshness of ``predictor``'s real-time groups (``.ir``, ``.store``,
        ``.namespace``), read from its store at each scrape; nothing when it has none."""
        groups = [g.name for g in predictor.ir.feature_groups if g.realtime]
        if not groups:
            return

        def read() -> dict[str, dict]:
            return read_freshness(predictor.store, predictor.namespace, groups)

        if self.streams is None:
            self.streams = StreamCollector(read)
            self.registry.register(self.streams)
        else:
            self.streams.read = read

    def observe(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage=stage).observe(seconds)

    def count_request(self, status: str | int) -> None:
        self.requests.labels(status=str(status)).inc()

    def record_store(self, degraded: bool, errors: int) -> None:
        if degraded:
            self.degraded.inc()
        if errors:
            self.store_errors.inc(errors)

    def record_experiments(self, summary: list[dict], fallback: bool) -> None:
        """``summary``: ``Decision.summary()`` of an answered request."""
        for item in summary:
            self.assignments.labels(experiment=item["experiment"], variant=item["variant"],
                                    routed="true" if item["routed"] else "false").inc()
        if fallback:
            self.fallbacks.inc()

    def count_feature_log(self, outcome: str) -> None:
        self.feature_log.labels(outcome=outcome).inc()

    def connection_opened(self) -> None:
        self.open_connections.inc()

    def connection_closed(self) -> None:
        self.open_connections.dec()

    def connection_rejected(self) -> None:
        self.rejected_connections.inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class StreamCollector:
    """The ``mlc_stream_*`` gauges, computed at each scrape from ``read()`` (group -> the group's
    entry of the job's status: ``freshness_p50_s``, ``freshness_p99_s``, ``last_event_us``,
    ``visible_at_us``). A failing ``read`` gives no series."""

    QUANTILES = (("0.5", "freshness_p50_s"), ("0.99", "freshness_p99_s"))

    def __init__(self, read: Callable[[], Mapping[str, Mapping[str, Any]]], clock: Callable[[], float] = time.time):
        self.read, self.clock = read, clock

    def describe(self) -> list:
        return []                     # registration reads nothing (no store call)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            entries = dict(self.read())
        except Exception:  # noqa: BLE001 - metrics never fail a scrape
            entries = {}
        freshness = GaugeMetricFamily("mlc_stream_freshness_seconds", "Time from an event's event time to its tile "
                                      "being visible in the online store, over the events of the streaming job's "
                                      "latest micro-batch (seconds).", labels=["group", "quantile"])
        event_age = GaugeMetricFamily("mlc_stream_last_event_age_seconds", "Seconds since the event time of the "
                                      "latest event the streaming job applied to the group.", labels=["group"])
        write_age = GaugeMetricFamily("mlc_stream_last_write_age_seconds", "Seconds since the streaming job last "
                                      "wrote the group's tiles to the online store.", labels=["group"])
        now = self.clock()
        for group, entry in sorted(entries.items()):
            if not isinstance(entry, Mapping):
                continue
            for quantile, key in self.QUANTILES:
                value = _number(entry.get(key))
                if value is not None:
                    freshness.add_metric([str(group), quantile], value)
            for family, key in ((event_age, "last_event_us"), (write_age, "visible_at_us")):
                micros = _number(entry.get(key))
                if micros is not None:
                    family.add_metric([str(group)], now - micros / 1_000_000)
        yield freshness
        yield event_age
        yield write_age
