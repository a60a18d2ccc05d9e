"""The dramatiq broker, set before any actor is imported (`workers.actors` imports this first).

With REDIS_URL set: a RedisBroker shared by every worker process and the API. Without it, the
embedded default: dramatiq's in-memory StubBroker, consumed by an in-process worker that
`workers.jobs.start_embedded_worker` starts.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from store.settings import get_settings
from workers.relay import Relay


def make_broker() -> dramatiq.Broker:
    """A broker from the settings: Redis when REDIS_URL is set, else in-memory."""
    settings = get_settings()
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(
            url=settings.redis_url,
            heartbeat_timeout=settings.worker_heartbeat_timeout_ms,
            maintenance_chance=settings.redis_maintenance_chance,
            namespace=settings.redis_namespace,
        )
    else:
        broker = StubBroker()
    # The actors read their retry count from the message being processed.
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(Relay())
    return broker


broker = make_broker()
dramatiq.set_broker(broker)
