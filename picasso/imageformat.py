"""What format an image is in, from its first bytes: shared by the edge, which refuses a
file that is no picture before storing it, and the uploads service, which decodes it."""

from __future__ import annotations

SNIFF_BYTES = 12  # the magic bytes of every format in topics.pictures.IMAGE_FORMATS fit


def sniff_format(head: bytes) -> str | None:
    """'jpeg', 'png' or 'webp' (a key of ``topics.pictures.IMAGE_FORMATS``) from the magic
    bytes (the first ``SNIFF_BYTES`` suffice), else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None
