"""The uploads agent's image pipeline: check an upload and make its renditions.

Pure and CPU-bound (bytes in, bytes out; no I/O, no broker): the agent runs
:func:`render` in a thread executor, and Pillow releases the GIL while it decodes,
resizes and encodes. The same input always gives the same bytes out, so reprocessing
a redelivered command rewrites identical files.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

from PIL import (
    Image,
    ImageCms,
    ImageDraw,
    ImageFile,
    ImageFont,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from picasso.imageformat import sniff_format
from topics.pictures import IMAGE_FORMATS

ACCEPTED_FORMATS = IMAGE_FORMATS  # the contract's formats, by the name this module uses
MAX_PIXELS = 50_000_000  # refuses decompression bombs before anything is decoded
MAX_SIDE = 20_000  # refuses absurd shapes (e.g. 50_000_000 x 1) that pass MAX_PIXELS
PREVIEW_BOX = 1280
THUMBNAIL_BOX = 320
JPEG_QUALITY = 85

_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP"}
# Plugin classes are used directly rather than Image.open(): they parse only the header
# (and check the magic bytes themselves), without Image.open's global MAX_IMAGE_PIXELS
# check, which would warn or fail before our own, clearer, limit is applied.
_OPENERS: dict[str, type[ImageFile.ImageFile]] = {
    "jpeg": JpegImagePlugin.JpegImageFile,
    "png": PngImagePlugin.PngImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
}
# EXIF Orientation -> the transposition that makes the picture upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG = 0x0112
# HAMMING costs what BILINEAR does (half of LANCZOS) and is sharper; the preview is made
# from a DCT-downscaled decode, so the remaining reduction is below 2x.
_PREVIEW_FILTER = Image.Resampling.HAMMING
_THUMBNAIL_FILTER = Image.Resampling.LANCZOS  # small output: the best filter is cheap


class ImageRejected(Exception):
    """The upload is not an image we publish; ``reason`` says why, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Renditions:
    """What :func:`render` makes of an original."""

    format: str  # detected format of the original: a key of ACCEPTED_FORMATS
    width: int  # of the original, once upright
    height: int
    thumbnail: bytes  # JPEG within THUMBNAIL_BOX, no metadata
    preview: bytes  # JPEG within PREVIEW_BOX, no metadata, watermarked if asked
    content_type: str = "image/jpeg"


def render(original: bytes, *, watermark: str | None) -> Renditions:
    """Check ``original`` and make its thumbnail and (optionally watermarked) preview.

    Raises ImageRejected if it is not a whole JPEG, PNG or WebP image of a sane size.
    """
    fmt = sniff_format(original[:12])
    if fmt is None:
        raise ImageRejected("not a JPEG, PNG or WebP image")
    img = _open(original, fmt)
    width, height = img.size
    if fmt == "jpeg":  # let libjpeg downscale while decoding (DCT scaling)
        img.draft("RGB", _fit(img.size, PREVIEW_BOX))
    try:
        img.load()
    except Exception as exc:  # Pillow reports bad data with many types; all mean the same
        raise ImageRejected(f"the {_NAMES[fmt]} image is damaged or incomplete") from exc
    orientation = _orientation(img)
    if orientation in (5, 6, 7, 8):  # stored on its side
        width, height = height, width
    icc = img.info.get("icc_profile")

    preview = _resize(_resizable(img), PREVIEW_BOX, _PREVIEW_FILTER)
    if orientation in _UPRIGHT:  # after resizing: fewer pixels to move
        preview = preview.transpose(_UPRIGHT[orientation])
    preview = _to_srgb(_flatten(preview), icc)
    preview.info = {}  # a fresh image: nothing of the original's metadata is saved
    thumbnail = _resize(preview, THUMBNAIL_BOX, _THUMBNAIL_FILTER)
    thumbnail_jpeg = _jpeg(thumbnail)  # before the watermark, which may draw on it too
    if watermark:
        _watermark(preview, watermark)
    return Renditions(format=fmt, width=width, height=height,
                      thumbnail=thumbnail_jpeg, preview=_jpeg(preview))


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    """Parse the header only, and refuse sizes we won't decode."""
    if fmt == "webp" and (size := _webp_size(data)):
        _check_size(*size)  # libwebp allocates the whole canvas when it opens the file
    try:
        img = _OPENERS[fmt](io.BytesIO(data))
    except Exception as exc:
        raise ImageRejected(f"not a valid {_NAMES[fmt]} image") from exc
    _check_size(*img.size)
    return img


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        limit = f"at most {MAX_PIXELS // 1_000_000} megapixels"
    elif max(width, height) > MAX_SIDE:
        limit = f"at most {MAX_SIDE} pixels on a side"
    else:
        return
    raise ImageRejected(f"image is too large: {width}x{height} pixels, {limit}")


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size in a WebP header (lossy, lossless or extended), if readable."""
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a" and len(data) >= 30:
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return (int.from_bytes(data[24:27], "little") + 1,
                int.from_bytes(data[27:30], "little") + 1)
    return None


def _orientation(img: Image.Image) -> int:
    """The EXIF Orientation tag, 1 (upright) when absent or unreadable."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block does not make a broken picture
        return 1
    return value if isinstance(value, int) else 1


def _fit(size: tuple[int, int], box: int) -> tuple[int, int]:
    """``size`` scaled down (never up) to fit in a ``box`` x ``box`` square."""
    width, height = size
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resize(img: Image.Image, box: int, resample: Image.Resampling) -> Image.Image:
    size = _fit(img.size, box)
    if size == img.size:
        return img
    # reducing_gap: a cheap integer reduce() first when the reduction is large
    return img.resize(size, resample, reducing_gap=2.0)


def _resizable(img: Image.Image) -> Image.Image:
    """``img`` in a mode resize() handles well: L, LA, RGB, RGBA or CMYK."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return img
    if mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if mode.startswith("I"):  # 16-bit greyscale: scale to 8 bits rather than clip
        return img.convert("I").point(lambda v: v / 256).convert("L")
    return img.convert("RGBA" if "A" in mode else "RGB")


def _flatten(img: Image.Image) -> Image.Image:
    """RGB, with any transparency laid on white."""
    if img.mode not in ("LA", "RGBA"):
        return img if img.mode in ("RGB", "CMYK") else img.convert("RGB")  # CMYK: _to_srgb
    flat = Image.new("RGB", img.size, "white")
    flat.paste(img.convert("RGB"), mask=img.getchannel("A"))
    return flat


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert from the embedded colour profile to sRGB, since the profile is not kept."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if img.mode == "CMYK" or "sRGB" not in ImageCms.getProfileDescription(source):
                srgb = ImageCms.createProfile("sRGB")  # per call: lcms handles are not shared
                return ImageCms.profileToProfile(img, source, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken or mismatched profile: keep the pixels as they are
    return img if img.mode == "RGB" else img.convert("RGB")


def _jpeg(img: Image.Image) -> bytes:
    """Encode as JPEG, passing no exif/icc/xmp/comment: the file carries no metadata."""
    out = io.BytesIO()
    img.save(out, "JPEG", quality=JPEG_QUALITY, subsampling="4:2:0", optimize=False)
    return out.getvalue()


def _watermark(img: Image.Image, text: str) -> None:
    """Repeat ``text`` diagonally over ``img`` (RGB, in place), semi-transparent."""
    colour, mask = _watermark_tile(text, max(12, min(img.size) // 16))
    step_x, step_y = colour.size[0], colour.size[1] * 2 // 3
    for row, y in enumerate(range(-step_y // 2, img.size[1], step_y)):
        for x in range(-(row % 2) * step_x // 2, img.size[0], step_x):
            img.paste(colour, (x, y), mask)  # blends through the mask; clips at edges


@functools.lru_cache(maxsize=32)
def _watermark_tile(text: str, size: int) -> tuple[Image.Image, Image.Image]:
    """The text, white with a dark outline, turned 30 degrees: (RGB, opacity mask).

    Cached (read-only once made): it only depends on the text and the preview's size.
    """
    font = ImageFont.load_default(size=size)
    stroke = max(1, size // 12)
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    pad = size  # space between repetitions
    tile = Image.new("LA", (right - left + 2 * pad, bottom - top + pad), (0, 0))
    ImageDraw.Draw(tile).text((pad - left, pad // 2 - top), text, font=font, fill=(255, 255),
                              stroke_width=stroke, stroke_fill=(0, 255))
    tile = tile.rotate(30, Image.Resampling.BICUBIC, expand=True)
    grey, alpha = tile.split()
    return grey.convert("RGB"), alpha.point(lambda a: a * 0.4)
