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
==========================================  ==========  ==========================================

Latencies are in seconds (the Prometheus convention); the buckets run from 0.25 ms to 2.5 s,
dense where an online request lives (1-50 ms).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mlc.runtime.serving.predictor import STAGES

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
        for stage in STAGES:                 # every series exists from the start (0 counts)
            self.stage_seconds.labels(stage=stage)

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

    def connection_opened(self) -> None:
        self.open_connections.inc()

    def connection_closed(self) -> None:
        self.open_connections.dec()

    def connection_rejected(self) -> None:
        self.rejected_connections.inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)
