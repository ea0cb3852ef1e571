"""The process's Prometheus series (prometheus-client), served at ``/metrics`` by the api and worker roles.

Labels never carry an instance id, a path or a token: a Green method name, a status state, an outcome. Each
process counts what it does itself (an API node its requests, a worker its sends and preparations); the
queue's depth is read from the database at each scrape, so any node reports the whole queue.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: this process's series (not prometheus-client's global registry: nothing a library registers leaks in)
REGISTRY = CollectorRegistry(auto_describe=True)

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "statusgate_http_requests",
    'Green API requests answered, by Green method ("other" for an unknown one) and HTTP status code.',
    ["method", "code"],
    registry=REGISTRY,
)
SENDS = Counter(
    "statusgate_sends",
    "Send attempts that ended, by outcome: sent, already_delivered (settled by asking the engine), retry "
    "(back to the queue), failed.",
    ["outcome"],
    registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "statusgate_send_seconds",
    "How long the engine's send call of a status took.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 90),
    registry=REGISTRY,
)
PREPARATION_SECONDS = Histogram(
    "statusgate_preparation_seconds",
    "How long preparing a status's media took (fetch, check, conversion), whatever its outcome.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
PREPARATIONS = Counter(
    "statusgate_preparations",
    "Preparations of a status's media that ended, by outcome: prepared, failed, waiting (for disk space).",
    ["outcome"],
    registry=REGISTRY,
)
QUEUE = Gauge(
    "statusgate_queue_statuses",
    "Statuses in the queue (every instance's), by state, as the database says at the scrape.",
    ["state"],
    registry=REGISTRY,
)
WEBHOOKS_WAITING = Gauge(
    "statusgate_webhooks_waiting",
    "Notifications waiting to be delivered to a webhookUrl, as the database says at the scrape.",
    registry=REGISTRY,
)
WEBHOOK_FAILURES = Counter(
    "statusgate_webhook_failures",
    "Webhook POSTs that failed (to be retried).",
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The series in Prometheus' text format."""
    return generate_latest(REGISTRY)
