"""What the workers count for Prometheus (served at /metrics with the HTTP metrics): delivery
outcomes per channel kind — a rise in ``retry_later`` or ``unreachable`` on one platform is
the first sign of a rate limit or a revoked token — and inbound events handled."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True)
class WorkerMetrics:
    deliveries: Counter
    inbound: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WorkerMetrics:
        return cls(
            deliveries=Counter(
                "communepol_deliveries",
                "Outbox sends by channel kind and outcome (sent, failed = retry later, dead, "
                "unreachable, quota_blocked, pending = account refused)",
                ["channel", "outcome"],
                registry=registry,
            ),
            inbound=Counter(
                "communepol_inbound_events",
                "Inbound events handled by the inbox worker, by outcome (done, failed, parked)",
                ["outcome"],
                registry=registry,
            ),
        )
