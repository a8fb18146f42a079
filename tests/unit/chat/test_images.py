"""parlor/chat/images.py: what a picture upload becomes, on real files, among them a corpus of hostile
ones (tests/corpus/images/: mutated files that made Pillow raise struct.error, TypeError or
UnboundLocalError, found by fuzzing; the rest are made here)."""
from __future__ import annotations

import io
import struct
import time
import warnings
from pathlib import Path

import PIL.Image
import PIL.PngImagePlugin
import pytest

from parlor.chat.images import process_image
from parlor.refusals import Refused

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "images"
# Each file of the corpus and what it must become: "stored" (its pixels are fine, only its
# metadata was broken, and metadata is dropped anyway) or the refusal's status.
CORPUS_OUTCOMES = {
    "jpeg-exif-struct-error.jpg": "stored",  # Pillow: struct.error rewriting its EXIF
    "jpeg-exif-type-error.jpg": "stored",  # Pillow: TypeError rewriting its EXIF
    "webp-exif-struct-error.webp": "stored",  # Pillow: struct.error rewriting its EXIF
    "png-palette-without-plte.png": "unsupported",  # Pillow: UnboundLocalError saving it
    "png-syntax-error.png": "unsupported",
    "gif-value-error.gif": "unsupported",
    "webp-animation-value-error.webp": "unsupported",
}


def encoded(picture: PIL.Image.Image, kind: str, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, kind, **options)
    return out.getvalue()


def exif_with_ascii_resolution(orientation: int) -> bytes:
    """EXIF (big-endian TIFF) with an Orientation, and XResolution written as ASCII "72" where
    the standard says RATIONAL: some cameras and editors write it so."""
    entries = [struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0),  # SHORT
               struct.pack(">HHI", 0x011A, 2, 3) + b"72\0\0"]  # ASCII, 3 bytes inline
    ifd = struct.pack(">H", len(entries)) + b"".join(entries) + struct.pack(">I", 0)
    return b"Exif\0\0MM\0*" + struct.pack(">I", 8) + ifd


def test_the_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(CORPUS_OUTCOMES)


@pytest.mark.parametrize("name", sorted(CORPUS_OUTCOMES))
def test_hostile_files_are_stored_or_refused_with_a_message_never_an_exception(name):
    data = (CORPUS / name).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the corrupt EXIF it skips
        if CORPUS_OUTCOMES[name] == "stored":
            image = process_image(data)
            assert PIL.Image.open(io.BytesIO(image.data)).size == (image.width, image.height)
            return
        with pytest.raises(Refused) as refused:
            process_image(data)
    assert refused.value.kind == CORPUS_OUTCOMES[name]
    assert str(refused.value) == "That picture is damaged or incomplete."


def test_an_mpo_from_a_phone_is_kept_as_its_first_frame_in_jpeg():
    first, second = PIL.Image.new("RGB", (40, 30), (220, 20, 20)), PIL.Image.new("RGB", (40, 30), (20, 220, 20))
    data = encoded(first, "MPO", save_all=True, append_images=[second])
    assert PIL.Image.open(io.BytesIO(data)).format == "MPO"
    image = process_image(data)
    stored = PIL.Image.open(io.BytesIO(image.data))
    assert (image.mime, stored.format, stored.size) == ("image/jpeg", "JPEG", (40, 30))
    assert getattr(stored, "n_frames", 1) == 1
    red, green, _ = stored.getpixel((20, 15))
    assert red > 200 and green < 60  # the first picture, not the second


def test_an_orientation_6_photo_with_an_ascii_resolution_is_turned_upright():
    """Orientation 6: the camera was turned, so the stored 40x30 pixels show upright as 30x40."""
    landscape = PIL.Image.new("RGB", (40, 30), (0, 0, 200))
    landscape.paste((250, 250, 0), (0, 0, 10, 10))  # a yellow mark in the top-left corner
    image = process_image(encoded(landscape, "JPEG", exif=exif_with_ascii_resolution(6)))
    upright = PIL.Image.open(io.BytesIO(image.data))
    assert (image.width, image.height) == upright.size == (30, 40)
    red, green, blue = upright.getpixel((25, 4))  # turned 90° clockwise: the mark is top-right
    assert red > 200 and green > 200 and blue < 80
    assert "exif" not in upright.info


@pytest.mark.parametrize("kind,options", [
    ("JPEG", {"comment": b"SECRET-NOTE"}),
    ("GIF", {"comment": b"SECRET-NOTE"}),
    ("PNG", {"icc_profile": b"SECRET-NOTE" * 20}),
    ("JPEG", {"icc_profile": b"SECRET-NOTE" * 20, "xmp": b"SECRET-NOTE"}),
    ("WEBP", {"xmp": b"SECRET-NOTE", "exif": exif_with_ascii_resolution(1)}),
], ids=["jpeg comment", "gif comment", "png icc profile", "jpeg icc and xmp", "webp xmp and exif"])
def test_comments_and_other_metadata_are_not_kept(kind, options):
    source = PIL.Image.new("P" if kind == "GIF" else "RGB", (40, 30))
    data = encoded(source, kind, **options)
    assert b"SECRET-NOTE" in data or kind == "PNG"  # the PNG's profile is compressed
    image = process_image(data)
    assert b"SECRET-NOTE" not in image.data and b"SECRET-NOTE" not in image.thumbnail
    stored = PIL.Image.open(io.BytesIO(image.data))
    assert not {"comment", "icc_profile", "xmp", "exif"} & set(stored.info)


def test_png_text_chunks_are_not_kept():
    text = PIL.PngImagePlugin.PngInfo()
    text.add_text("Comment", "SECRET-NOTE")
    image = process_image(encoded(PIL.Image.new("RGB", (40, 30)), "PNG", pnginfo=text))
    assert b"SECRET-NOTE" not in image.data


def test_a_gif_keeps_its_transparency():
    data = encoded(PIL.Image.new("P", (40, 30), 0), "GIF", transparency=0, comment=b"SECRET-NOTE")
    stored = PIL.Image.open(io.BytesIO(process_image(data).data))
    assert stored.info.get("transparency") == 0 and "comment" not in stored.info


def test_a_picture_over_the_pixel_budget_is_refused_from_its_header_before_any_decoding():
    """A 1 KB lossless WebP can declare millions of pixels: over the budget it is refused from its
    header, in no time (24 megapixels were taken, and cost seconds of CPU)."""
    from parlor.chat.images import MAX_IMAGE_PIXELS

    out = io.BytesIO()
    PIL.Image.new("RGB", (5000, 3300), (200, 30, 30)).save(out, "WEBP", lossless=True)  # 16.5 megapixels
    assert len(out.getvalue()) < 2000 and 5000 * 3300 > MAX_IMAGE_PIXELS == 16_000_000
    started = time.thread_time()
    with warnings.catch_warnings(), pytest.raises(Refused) as refused:
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        process_image(out.getvalue())
    assert refused.value.kind == "too_large" and "at most 16 million" in str(refused.value)
    assert time.thread_time() - started < 0.05


def test_the_dearest_picture_at_the_budget_costs_a_bounded_cpu_time():
    """The worst case of `python -m bench.picture_cost`: a 20 KB lossless WebP of tiled noise at
    the budget. Re-encoded lossy at WebP's default effort it cost 3.7 s of CPU at 16 megapixels
    (5.6 s at 24); a lossless one stays lossless, at low effort."""
    from bench.picture_cost import at_budget, contents, encoded

    data = encoded(contents(at_budget())["tiled noise"], "WEBP")
    started = time.thread_time()
    stored = process_image(data)
    took = time.thread_time() - started
    assert stored.mime == "image/webp" and len(stored.data) < 1024 * 1024  # not a 10 MB lossy copy
    assert took < 1.5, f"{took:.2f} s of CPU"  # 0.68 s measured on the test machine
