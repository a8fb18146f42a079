"""Image messages: decide the type by decoding, refuse bombs and broken files, strip metadata."""
from __future__ import annotations

import hashlib
import io
import logging

import PIL.Image

from parlor.chat.pair_file import Image
from parlor.refusals import Refused

log = logging.getLogger("parlor.images")

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # a phone photo fits; anything bigger is a file, not a chat picture
# About 4900 x 3270 (a 16-megapixel phone photo), read from the header before anything is decoded:
# decoding and re-encoding cost CPU by the pixel, and a 1 KB lossless WebP can declare millions of
# them (24 megapixels cost up to 5.6 s of CPU; `python -m bench.picture_cost` measures the worst case).
MAX_IMAGE_PIXELS = 16_000_000
# The encoders' effort: their defaults (zlib 6, WebP method 4) spent seconds on a picture that
# compresses badly; these spend a fraction of that, for files somewhat larger. A lossless WebP
# stays lossless (re-encoded lossy, a few KB of tiled noise became a 10 MB file, in seconds).
PNG_COMPRESS_LEVEL = 3
WEBP_METHOD = 0
WEBP_LOSSLESS = {"lossless": True, "quality": 0, "method": 1}  # quality is the effort here
WEBP_HEADER_CHUNKS = 8  # a WebP's picture chunk comes after at most a few others (VP8X, ICCP, ANIM)
THUMBNAIL_PX = 320  # the longest side of the preview shown in the conversation
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
ACCEPT = ",".join(FORMATS.values())
# What a phone sends as JPEG is often MPO (a JPEG with a second picture after it): its first frame
# is the photo, kept as a JPEG.
STORED_AS = {"MPO": "JPEG"}
# EXIF Orientation -> the turn that makes the pixels upright (EXIF 2.3, as Pillow's exif_transpose,
# which also rewrites the EXIF it is about to drop and fails on odd tags).
ORIENTATION_TAG = 0x0112
UPRIGHT = {2: PIL.Image.Transpose.FLIP_LEFT_RIGHT, 3: PIL.Image.Transpose.ROTATE_180,
           4: PIL.Image.Transpose.FLIP_TOP_BOTTOM, 5: PIL.Image.Transpose.TRANSPOSE,
           6: PIL.Image.Transpose.ROTATE_270, 7: PIL.Image.Transpose.TRANSVERSE, 8: PIL.Image.Transpose.ROTATE_90}
# The only decoder notes a re-encoded picture keeps: everything else (comments, EXIF, XMP, ICC
# profiles, text chunks) can carry who took it and where, or a payload for a later parser.
KEPT_INFO = frozenset({"transparency"})

TOO_MANY_PIXELS = f"That picture has too many pixels (at most {MAX_IMAGE_PIXELS // 1_000_000} million)."

# Pillow's own bomb guard, lowered to our limit (it warns above it and refuses at twice it).
PIL.Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def process_image(data: bytes) -> Image:
    """Decode an upload (never trusting its name or declared type) and re-encode it clean, or
    Refused: too_large (bytes, pixels) or unsupported (not a picture we take, or damaged)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise Refused("too_large", f"That picture is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB.")
    try:
        with PIL.Image.open(io.BytesIO(data), formats=list(FORMATS)) as picture:
            kind = STORED_AS.get(picture.format, picture.format)
            if picture.width * picture.height > MAX_IMAGE_PIXELS:
                raise Refused("too_large", TOO_MANY_PIXELS)
            picture.load()  # decodes it all (an MPO's first frame): a truncated or corrupt file fails here
            turn = UPRIGHT.get(picture.getexif().get(ORIENTATION_TAG))
            clean = picture.transpose(turn) if turn is not None else picture  # keep the photo upright
            clean.info = {key: value for key, value in picture.info.items() if key in KEPT_INFO}
            stored = _encode(clean, kind, lossless=kind == "WEBP" and _lossless_webp(data))
            preview = clean.copy()
            preview.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            thumbnail = _encode(preview, "PNG")
            width, height = clean.size
    except Refused:
        raise
    except PIL.Image.DecompressionBombError:
        raise Refused("too_large", TOO_MANY_PIXELS) from None
    except PIL.UnidentifiedImageError:
        raise Refused("unsupported", "Only PNG, JPEG, GIF and WebP pictures can be sent.") from None
    except Exception as e:  # hostile bytes make Pillow raise anything (struct.error, TypeError, ...)
        log.info("a picture was refused: %s: %s", type(e).__name__, e)
        raise Refused("unsupported", "That picture is damaged or incomplete.") from None
    return Image(FORMATS[kind], width, height, stored, thumbnail, hashlib.sha256(stored).hexdigest())


def _lossless_webp(data: bytes) -> bool:
    """Whether a WebP's picture is lossless (a VP8L chunk, not VP8): read from the RIFF chunks."""
    at = 12  # past "RIFF", the size and "WEBP"
    for _ in range(WEBP_HEADER_CHUNKS):
        fourcc, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "little")
        if fourcc in (b"VP8L", b"VP8 "):
            return fourcc == b"VP8L"
        at += 8 + size + (size & 1)
    return False


def _encode(picture: PIL.Image.Image, kind: str, lossless: bool = False) -> bytes:
    """Write the pixels only: no EXIF, no text chunks, no ICC tricks."""
    out = io.BytesIO()
    if kind == "JPEG":
        picture.convert("RGB").save(out, "JPEG", quality=88)
    elif kind == "PNG":
        picture = picture if picture.mode in ("1", "L", "LA", "P", "RGB", "RGBA") else picture.convert("RGBA")
        picture.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif kind == "GIF":
        picture.save(out, "GIF")  # the first frame: animations are not kept
    else:
        options = WEBP_LOSSLESS if lossless else {"quality": 85, "method": WEBP_METHOD}
        picture.save(out, "WEBP", **options)
    return out.getvalue()


REPORT_PICTURE_QUALITY = 70  # a report's copy of a picture: enough to judge it by, a few dozen KB


def report_copy(thumbnail: bytes) -> bytes:
    """A stored picture's thumbnail (ours, re-encoded already) as the small JPEG a report keeps."""
    with PIL.Image.open(io.BytesIO(thumbnail), formats=["PNG"]) as preview:
        out = io.BytesIO()
        preview.convert("RGB").save(out, "JPEG", quality=REPORT_PICTURE_QUALITY)
    return out.getvalue()
