"""Blob storage for pictures: S3 (aioboto3) or a plain directory for the zero-setup run.

Keys under ``public/`` are previews and thumbnails that browsers load straight from
:meth:`BlobStore.public_url`; every other key (``incoming/``, ``originals/``) is private and
reached only through :meth:`BlobStore.download_url`, an expiring link the store signs: S3
presigns its own; the directory store signs a link to the edge's ``/api/v1/downloads``,
which checks it with :meth:`DirectoryBlobStore.verified_download`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import tempfile
import time
from pathlib import Path
from typing import IO, AsyncIterator, Protocol
from urllib.parse import quote, urlencode

import aioboto3

from picasso.settings import Settings

PUBLIC_PREFIX = "public/"
_PART_SIZE = 8 * 1024 * 1024  # S3 multipart parts must be ≥ 5 MiB, except the last


_MISSING = ("404", "NoSuchKey", "NotFound")
# A key is '/'-separated names of letters, digits, '.', '_' and '-', none starting with a
# dot: no '..', no '.', no empty name, no leading '/', no backslash. A key therefore means the
# same object in S3 and in the directory store, and never climbs out of its area.
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}){0,7}")


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class BlobNotFound(KeyError):
    """No object is stored under that key."""


class BlobTooLarge(ValueError):
    """A streamed upload went past its size limit; nothing was kept."""


class InvalidDownload(PermissionError):
    """A download link that was not signed by this store, or has expired."""


class InvalidBlobKey(ValueError):
    """A key that is not plain names separated by '/' (e.g. it holds '..')."""


def checked_key(key: str) -> str:
    """``key`` itself, or InvalidBlobKey if it could mean another place than it says."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidBlobKey(key)
    return key


class BlobStore(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, max_bytes: int
    ) -> int: ...
    async def get(self, key: str) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    async def copy(self, source: str, target: str) -> None: ...
    async def delete(self, key: str) -> None: ...
    def public_url(self, key: str) -> str: ...
    async def download_url(self, key: str, filename: str, ttl_s: int) -> str:
        """A link to a private object that works for ``ttl_s`` seconds, saving it as
        ``filename``."""
        ...
    def verified_download(self, key: str, expires: str, filename: str,
                          signature: str) -> str:
        """The key a download link of this store's names, if it is current; raises
        InvalidDownload otherwise (every link, where the store's links are not the edge's)."""
        ...
    def media_file(self, key: str) -> Path:
        """The local file of a public key, for an edge serving ``/media`` itself; raises
        BlobNotFound where media have an address of their own (S3, a CDN)."""
        ...


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings name (``BLOB_BACKEND`` = ``s3`` or ``dir``)."""
    if settings.blob_backend == "s3":
        return S3BlobStore(settings)
    if settings.blob_backend == "dir":
        return DirectoryBlobStore(settings.blob_dir, settings.public_media_url,
                                  downloads_url=f"{settings.public_base_url}/api/v1/downloads",
                                  signing_key=settings.signing_key)
    raise ValueError(f"BLOB_BACKEND must be 's3' or 'dir', not {settings.blob_backend!r}")


class DirectoryBlobStore:
    """Objects as files under one directory; the edge serves ``public/`` at ``/media``."""

    def __init__(self, root: Path, public_base_url: str, *, downloads_url: str = "",
                 signing_key: str = "") -> None:
        """``downloads_url``: where the edge serves signed downloads, as people reach it
        (never the bind address); ``signing_key`` signs those links."""
        self.root = root
        self.public_base_url = public_base_url
        self.downloads_url = downloads_url
        self._signing_key = signing_key.encode()

    def _path(self, key: str) -> Path:
        path = (self.root / checked_key(key)).resolve()  # resolve(): a link cannot lead out
        if self.root.resolve() not in path.parents:
            raise BlobNotFound(key)
        return path

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"blob directory {self.root} is not writable")

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write_all, self._path(key), data)

    @staticmethod
    def _write_all(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a file

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, max_bytes: int
    ) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        size = 0
        with partial.open("wb") as out:
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise BlobTooLarge(key)
                    await asyncio.to_thread(out.write, chunk)
            except BaseException:
                out.close()
                partial.unlink(missing_ok=True)
                raise
        partial.replace(path)
        return size

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def copy(self, source: str, target: str) -> None:
        await self.put(target, await self.get(source), "application/octet-stream")

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def public_url(self, key: str) -> str:
        return f"{self.public_base_url}/{key.removeprefix(PUBLIC_PREFIX)}"

    async def download_url(self, key: str, filename: str, ttl_s: int) -> str:
        if not self._signing_key or not self.downloads_url:
            raise RuntimeError("the directory store signs no download links without "
                               "downloads_url and signing_key")
        expires = int(time.time()) + ttl_s
        query = urlencode({"key": checked_key(key), "expires": expires,
                           "signature": self._signature(key, expires, filename)})
        return f"{self.downloads_url}/{quote(filename, safe='')}?{query}"

    def verified_download(self, key: str, expires: str, filename: str,
                          signature: str) -> str:
        """The key of a link :meth:`download_url` made, if it is this store's and current;
        raises InvalidDownload otherwise."""
        try:
            when = int(expires)
            expected = self._signature(checked_key(key), when, filename)
        except (ValueError, InvalidBlobKey):
            raise InvalidDownload("the download link is not valid") from None
        # As bytes: compare_digest refuses str with non-ASCII characters.
        if not self._signing_key or not hmac.compare_digest(
                expected.encode(), signature.encode("utf-8", "replace")):
            raise InvalidDownload("the download link is not valid")
        if when < time.time():
            raise InvalidDownload("the download link has expired; ask for a new one")
        return key

    def _signature(self, key: str, expires: int, filename: str) -> str:
        message = f"{key}\n{expires}\n{filename}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def media_file(self, key: str) -> Path:
        """The file of a public key, for the edge's ``/media`` route.

        Raises BlobNotFound for anything that resolves outside ``public/`` (``..``, links),
        so a crafted path can never reach an original.
        """
        path = self._path(key)
        if (self.root / PUBLIC_PREFIX).resolve() not in path.parents or not path.is_file():
            raise BlobNotFound(key)
        return path


class S3BlobStore:
    """Objects in an S3 bucket (AWS S3, MinIO, or moto server locally).

    S3 keys are plain strings, but proxies, CDNs and tools that mirror a bucket to disk
    resolve '..' in them: every key is checked (:func:`checked_key`) before it is used.
    """

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self.public_base_url = settings.public_media_url
        self._session = aioboto3.Session()
        self._endpoint = settings.s3_endpoint_url
        self._keys = {"aws_access_key_id": settings.aws_access_key_id,
                      "aws_secret_access_key": settings.aws_secret_access_key}
        self._region = settings.s3_region
        self._context = None
        self.client = None

    async def start(self) -> None:
        if self.client is None:
            self._context = self._session.client(
                "s3", endpoint_url=self._endpoint, region_name=self._region,
                # Unset: boto's own chain (instance roles, the AWS_* variables, files).
                **{k: v for k, v in self._keys.items() if v}
            )
            self.client = await self._context.__aenter__()

    async def close(self) -> None:
        if self._context is not None:
            await self._context.__aexit__(None, None, None)
            self._context = self.client = None

    async def ping(self) -> None:
        await self.client.head_bucket(Bucket=self.bucket)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self.client.put_object(
            Bucket=self.bucket, Key=checked_key(key), Body=data, ContentType=content_type
        )

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str, max_bytes: int
    ) -> int:
        """Stream into S3 through a temporary file, one part at a time (multipart past 8 MiB).

        A part waits on local disk, not in memory, and is sent from the file in small
        reads: the edge's memory stays flat however large the upload (a part held as
        bytes costs it twice over, once more in the socket's send buffer).
        """
        checked_key(key)
        size = 0
        upload_id = None
        parts: list[dict] = []
        with tempfile.TemporaryFile(prefix="picasso-part-") as part:
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise BlobTooLarge(key)
                    await asyncio.to_thread(part.write, chunk)
                    if part.tell() >= _PART_SIZE:
                        if upload_id is None:
                            created = await self.client.create_multipart_upload(
                                Bucket=self.bucket, Key=key, ContentType=content_type
                            )
                            upload_id = created["UploadId"]
                        parts.append(await self._upload_part(key, upload_id, len(parts) + 1,
                                                             part))
                if upload_id is None:
                    part.seek(0)
                    await self.client.put_object(
                        Bucket=self.bucket, Key=key, Body=part, ContentType=content_type
                    )
                    return size
                if part.tell():
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, part))
                await self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
                return size
            except BaseException:
                if upload_id is not None:
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                raise

    async def _upload_part(self, key: str, upload_id: str, number: int, part: IO[bytes]) -> dict:
        """Send what ``part`` holds as part ``number``, then empty it for the next one."""
        part.seek(0)
        answer = await self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
        )
        part.seek(0)
        part.truncate()
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def get(self, key: str) -> bytes:
        try:
            answer = await self.client.get_object(Bucket=self.bucket, Key=checked_key(key))
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(key) from None
        async with answer["Body"] as body:
            return await body.read()

    async def exists(self, key: str) -> bool:
        try:
            await self.client.head_object(Bucket=self.bucket, Key=checked_key(key))
        except self.client.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING:
                return False
            raise
        return True

    async def copy(self, source: str, target: str) -> None:
        try:
            await self.client.copy_object(
                Bucket=self.bucket, Key=checked_key(target),
                CopySource={"Bucket": self.bucket, "Key": checked_key(source)}
            )
        except self.client.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise BlobNotFound(source) from None
            raise

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=checked_key(key))

    def public_url(self, key: str) -> str:
        return f"{self.public_base_url}/{key}"

    async def download_url(self, key: str, filename: str, ttl_s: int) -> str:
        return await self.client.generate_presigned_url(
            "get_object", ExpiresIn=ttl_s, Params={
                "Bucket": self.bucket, "Key": checked_key(key),
                # A browser following the link saves the file instead of showing it.
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            })

    def verified_download(self, key: str, expires: str, filename: str,
                          signature: str) -> str:
        raise InvalidDownload("the download link is not valid")  # S3 checks its own links

    def media_file(self, key: str) -> Path:
        raise BlobNotFound(key)  # public media have the bucket's (or the CDN's) address
