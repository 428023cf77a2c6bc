"""Fixtures the integration tests share."""

from __future__ import annotations

import pytest

from picasso.settings import Settings
from tests.integration.delivery import Producer


@pytest.fixture
async def kafka(settings: Settings, workers):
    """A producer of events onto the session's topics, with the session's workers up."""
    producer = Producer(settings)
    await producer.kafka.start()
    yield producer
    await producer.kafka.stop()
