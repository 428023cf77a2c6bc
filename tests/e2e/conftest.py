"""What the end-to-end tests share: an API client on the session's edge, and the ledger."""

from __future__ import annotations

import aiohttp
import pytest

from agents.purchases.ledger import Ledger
from picasso.settings import Settings
from tests.helpers import Api


@pytest.fixture
async def api(system: str):
    async with aiohttp.ClientSession() as http:
        yield Api(http, system)


@pytest.fixture
async def ledger(settings: Settings):
    """The purchases ledger, read directly to check what the service recorded."""
    async with await Ledger.open(list(settings.mysql_shards)) as opened:
        yield opened
