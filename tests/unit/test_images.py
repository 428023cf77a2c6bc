"""The uploads agent's image pipeline, on images made in the tests."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image, ImageChops, ImageCms, PngImagePlugin

from agents.uploads import images
from agents.uploads.images import ImageRejected, Renditions, render, sniff_format

WATERMARK = "Picasso · preview"


FAST = {"PNG": {"compress_level": 1}, "WEBP": {"method": 0}}  # quick to encode in tests


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    params = {**FAST.get(fmt, {}), **params}
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def photo(size: tuple[int, int] = (800, 600)) -> Image.Image:
    """Something photo-like: gradients and noise, so encoders have work to do."""
    grey = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 30)
    return Image.merge("RGB", (grey, noise, grey.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG header for a huge 1-bit image, with a few bytes of pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))


def webp_claiming(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP header announcing a huge canvas."""
    payload = bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + len(payload).to_bytes(4, "little") + payload
    return b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + b"WEBP" + chunk


def assert_fits(data: bytes, box: int) -> Image.Image:
    img = opened(data)
    assert img.format == "JPEG"
    assert img.mode == "RGB"
    assert max(img.size) <= box
    return img


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", "jpeg"),
        (b"\xff\xd8\xff\xe1\x12\x34Exif\x00\x00", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d", "png"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"\xff\xd8", None),  # too short to tell
        (b"hello, world", None),
        (b"", None),
    ],
)
def test_sniff_format(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepts_jpeg_png_and_webp(fmt: str) -> None:
    result = render(encode(photo((1600, 900)), fmt), watermark=None)

    assert isinstance(result, Renditions)
    assert result.format == fmt.lower()
    assert result.format in images.ACCEPTED_FORMATS
    assert (result.width, result.height) == (1600, 900)
    assert result.content_type == "image/jpeg"
    assert assert_fits(result.preview, 1280).size == (1280, 720)
    assert assert_fits(result.thumbnail, 320).size == (320, 180)


def test_strips_metadata_and_turns_upright() -> None:
    # Stored landscape, left half red and right half blue; Orientation 6 says "turn it
    # a quarter clockwise to show it", which puts the red half on top.
    stored = Image.new("RGB", (1600, 1200), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 800, 1200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "Camera maker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPS IFD
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = encode(stored, "JPEG", exif=exif.tobytes(), comment=b"at home",
                      xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", icc_profile=srgb)
    source = Image.open(io.BytesIO(original))
    assert source.getexif().get_ifd(0x8825)  # the GPS position is really in the original
    assert {"exif", "comment", "xmp", "icc_profile"} <= source.info.keys()

    result = render(original, watermark=WATERMARK)

    assert (result.width, result.height) == (1200, 1600)
    for data, size in ((result.preview, (960, 1280)), (result.thumbnail, (240, 320))):
        img = assert_fits(data, max(size))
        assert img.size == size
        assert not img.getexif()
        assert not {"exif", "comment", "xmp", "icc_profile"} & img.info.keys()
        assert b"Exif\x00\x00" not in data
        assert b"Camera maker" not in data
        red, _, blue = img.getpixel((size[0] // 2, size[1] // 8))
        assert red > 200 and blue < 60  # red on top
        red, _, blue = img.getpixel((size[0] // 2, size[1] * 7 // 8))
        assert blue > 200 and red < 60  # blue below


def test_never_enlarges_a_small_picture() -> None:
    result = render(encode(photo((200, 100)), "PNG"), watermark=WATERMARK)

    assert (result.width, result.height) == (200, 100)
    assert opened(result.preview).size == (200, 100)
    assert opened(result.thumbnail).size == (200, 100)


def test_extreme_shapes_fit_their_boxes() -> None:
    result = render(encode(Image.new("L", (5000, 40), 90), "PNG"), watermark=WATERMARK)

    assert assert_fits(result.preview, 1280).size == (1280, 10)
    assert assert_fits(result.thumbnail, 320).size in {(320, 2), (320, 3)}  # 2.56 rounded


def test_watermark_marks_the_preview_only() -> None:
    original = encode(photo(), "JPEG", quality=90)

    clean = render(original, watermark=None)
    marked = render(original, watermark=WATERMARK)

    diff = ImageChops.difference(opened(clean.preview), opened(marked.preview)).convert("L")
    changed = sum(diff.point(lambda v: 255 if v > 24 else 0).histogram()[255:])
    assert changed > 0.02 * 800 * 600  # visibly marked, and over more than a corner
    assert clean.thumbnail == marked.thumbnail


def test_same_input_same_bytes() -> None:
    original = encode(photo(), "JPEG")
    first = render(original, watermark=WATERMARK)
    images._watermark_tile.cache_clear()  # made afresh, the watermark is the same

    assert render(original, watermark=WATERMARK) == first


@pytest.mark.parametrize(
    "img",
    [
        Image.new("RGBA", (300, 200), (255, 0, 0, 0)),  # fully transparent
        Image.new("LA", (300, 200), (0, 0)),
        Image.new("P", (300, 200), 0),  # palette entry 0 declared transparent below
    ],
    ids=["RGBA", "LA", "P"],
)
def test_transparency_lies_on_white(img: Image.Image) -> None:
    original = encode(img, "PNG", **({"transparency": 0} if img.mode == "P" else {}))

    preview = opened(render(original, watermark=None).preview)

    assert all(v >= 250 for v in preview.getpixel((150, 100)))


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    grey = Image.new("I;16", (64, 64), 32768)  # mid grey on 16 bits

    preview = opened(render(encode(grey, "PNG"), watermark=None).preview)

    assert all(120 <= v <= 136 for v in preview.getpixel((32, 32)))


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = Image.new("CMYK", (400, 300), (0, 255, 255, 0))  # red ink

    result = render(encode(cmyk, "JPEG"), watermark=None)

    red, green, blue = assert_fits(result.preview, 1280).getpixel((200, 150))
    assert red > 200 and green < 60 and blue < 60


def test_a_colour_profile_is_applied_then_dropped() -> None:
    # sRGB under another name: converted (not skipped as sRGB), so the colours must hold.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    renamed = srgb.replace("sRGB".encode("utf-16-be"), "wide".encode("utf-16-be"))
    description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(renamed)))
    assert "sRGB" not in description
    original = encode(Image.new("RGB", (300, 200), (200, 30, 60)), "PNG", icc_profile=renamed)

    preview = opened(render(original, watermark=None).preview)

    assert "icc_profile" not in preview.info
    assert all(abs(a - b) <= 4 for a, b in zip(preview.getpixel((150, 100)), (200, 30, 60)))


def test_a_broken_colour_profile_is_ignored() -> None:
    original = encode(photo(), "JPEG", icc_profile=b"not a profile")

    result = render(original, watermark=None)

    assert "icc_profile" not in opened(result.preview).info


def truncated_jpeg() -> bytes:
    data = encode(photo(), "JPEG")
    return data[: len(data) * 2 // 3]


def corrupt_png() -> bytes:
    data = bytearray(encode(photo((200, 200)), "PNG"))
    start = data.index(b"IDAT") + 8
    data[start : start + 400] = bytes(400)  # zeroed compressed stream, CRC left as it was
    return bytes(data)


@pytest.mark.parametrize(
    ("original", "reason"),
    [
        (encode(photo((64, 64)), "GIF"), "not a JPEG, PNG or WebP image"),
        (b"this is a text file, even if it was named photo.jpg\n", "not a JPEG, PNG or WebP"),
        (random.Random(7).randbytes(4096), "not a JPEG, PNG or WebP image"),
        (b"", "not a JPEG, PNG or WebP image"),
        (b"\xff\xd8\xff\xe0 only the start of a JPEG", "not a valid JPEG image"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "not a valid PNG image"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 \x04\x00\x00\x00", "not a valid WebP image"),
        (truncated_jpeg(), "JPEG image is damaged or incomplete"),
        (corrupt_png(), "PNG image is damaged or incomplete"),
    ],
    ids=["gif", "text", "random", "empty", "jpeg-header", "png-header", "webp-header",
         "truncated-jpeg", "corrupt-png"],
)
def test_rejects_what_is_not_a_whole_image(original: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        render(original, watermark=WATERMARK)

    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason


@pytest.mark.parametrize(
    ("original", "reason"),
    [
        (png_claiming(30_000, 30_000), "too large: 30000x30000 pixels, at most 50 megapixels"),
        (png_claiming(10_000, 6_000), "too large: 10000x6000 pixels, at most 50 megapixels"),
        (png_claiming(40_000, 10), "too large: 40000x10 pixels, at most 20000 pixels on a side"),
        (webp_claiming(16_000, 16_000), "too large: 16000x16000 pixels, at most 50 megapixels"),
    ],
    ids=["png-900MP", "png-60MP", "png-too-long", "webp-256MP"],
)
def test_refuses_decompression_bombs_from_the_header(
    original: bytes, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("a bomb was decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    limit = Image.MAX_IMAGE_PIXELS

    with pytest.raises(ImageRejected) as caught:
        render(original, watermark=WATERMARK)

    assert caught.value.reason == f"image is {reason}"
    assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's global is left alone
