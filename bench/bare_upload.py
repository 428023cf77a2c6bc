"""The floor of ``bench.upload_memory``: a bare aiohttp server that streams uploads to disk.

It imports nothing of Picasso's, so its memory is aiohttp's and Python's alone: it reads
the multipart body part by part and writes the file part to a file, ``--chunk`` bytes at
a time, as Picasso's edge does.

    python -m bench.bare_upload --port PORT --chunk BYTES DIRECTORY
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aiohttp import web


def app(directory: Path, chunk_size: int) -> web.Application:
    async def upload(request: web.Request) -> web.Response:
        reader = await request.multipart()
        fields = {}
        size = 0
        async for part in reader:
            if part.filename is None:
                fields[part.name] = await part.text()
                continue
            # Plain blocking writes: the least machinery there is (no executor threads).
            path = directory / f"{time.monotonic_ns()}.upload"
            with open(path, "wb") as out:  # noqa: ASYNC230
                while chunk := await part.read_chunk(chunk_size):
                    out.write(chunk)
                    size += len(chunk)
        return web.json_response({"size": size, "fields": sorted(fields)}, status=201)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    application = web.Application()
    application.add_routes([web.post("/upload", upload), web.get("/", ready)])
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunk", type=int, required=True, help="bytes per read")
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    web.run_app(app(args.directory, args.chunk), host="127.0.0.1", port=args.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
