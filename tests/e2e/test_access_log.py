"""The edge's `request` log lines with ``ACCESS_LOG_SAMPLE`` below 1: answers below 400 are
logged as a share of them (here none), answers of 400 and above always; the metrics count
every request either way."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

pytestmark = pytest.mark.slow

from tests.helpers import edge_of_its_own  # noqa: E402


async def test_only_failed_answers_are_logged_when_the_sample_is_zero(
        system: str, system_env: dict[str, str], tmp_path) -> None:
    with edge_of_its_own("quiet-edge", system_env,
                         {"ACCESS_LOG_SAMPLE": "0", "LOG_LEVEL": "info"}, tmp_path) as url:
        async with aiohttp.ClientSession() as http:
            for _ in range(5):
                async with http.get(f"{url}/api/v1/pictures?limit=1") as answer:
                    assert answer.status == 200
            async with http.get(f"{url}/api/v1/pictures?limit=1000") as answer:
                assert answer.status == 422
            async with http.get(f"{url}/metrics") as answer:
                metrics = await answer.text()
        await asyncio.sleep(0.5)  # the edge's stderr reaches its log
        lines = [json.loads(line) for line in (tmp_path / "edge.log").read_text().splitlines()
                 if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert [(line["path"], line["status"]) for line in requests] == [("/api/v1/pictures", 422)]
    counted = re.search(r'picasso_http_requests_total\{method="GET",route="/api/v1/pictures",'
                        r'status="200"\} (\S+)', metrics)
    assert counted is not None and float(counted.group(1)) == 5.0
