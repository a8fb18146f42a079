"""The CPU one picture costs the server, worst cases first: pictures at the pixel budget (and
one just over it), of every accepted kind and of contents that are cheap to send and dear to
decode or re-encode (a 1 KB lossless WebP of 16 megapixels), each through process_image as a
send does. Prints one line per picture and the worst, as a JSON line at the end.

    python -m bench.picture_cost [--repeat 3]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import time
import warnings

import PIL.Image
import PIL.ImageDraw

from parlor.chat.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, process_image
from parlor.refusals import Refused


def at_budget(extra_pixels: int = 0) -> tuple[int, int]:
    """A 3:2 size with MAX_IMAGE_PIXELS (+ extra) pixels."""
    width = math.isqrt((MAX_IMAGE_PIXELS + extra_pixels) * 3 // 2)
    return width, (MAX_IMAGE_PIXELS + extra_pixels) // width


def contents(size: tuple[int, int]) -> dict[str, PIL.Image.Image]:
    """Pictures that compress to little on the way in: one colour, stripes, a gradient, a tiled patch of noise."""
    width, height = size
    flat = PIL.Image.new("RGB", size, (200, 30, 30))
    stripes = PIL.Image.new("RGB", size, (255, 255, 255))
    draw = PIL.ImageDraw.Draw(stripes)
    for x in range(0, width, 7):
        draw.line([(x, 0), (x, height)], fill=(x % 256, 90, 160), width=2)
    gradient = PIL.Image.linear_gradient("L").resize(size).convert("RGB")
    patch = PIL.Image.effect_noise((64, 64), 90).convert("RGB")
    noise = PIL.Image.new("RGB", size)
    for x in range(0, width, 64):
        for y in range(0, height, 64):
            noise.paste(patch, (x, y))
    return {"flat": flat, "stripes": stripes, "gradient": gradient, "tiled noise": noise}


KINDS = {"WEBP": ("WEBP", {"lossless": True}), "WEBP-lossy": ("WEBP", {"quality": 95}), "PNG": ("PNG", {}),
         "JPEG": ("JPEG", {"quality": 95}), "GIF": ("GIF", {})}


def encoded(picture: PIL.Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    form, options = KINDS[kind]
    (picture.convert("P") if form == "GIF" else picture).save(out, form, **options)
    return out.getvalue()


def cost(data: bytes, repeat: int) -> tuple[float, str]:
    """The least CPU time (s) of `repeat` runs of process_image, and what it answered."""
    best, outcome = math.inf, ""
    for _ in range(repeat):
        started = time.thread_time()
        try:
            process_image(data)
            outcome = "stored"
        except Refused as e:
            outcome = f"refused: {e}"
        best = min(best, time.thread_time() - started)
    return best, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per picture; the least CPU counts")
    args = parser.parse_args()
    warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)  # the pictures over the budget say it
    worst = (0.0, "")
    for label, size in (("at the budget", at_budget()), ("one pixel row over", at_budget(at_budget()[0]))):
        for content, picture in contents(size).items():
            for kind in KINDS:
                data = encoded(picture, kind)
                if len(data) > MAX_IMAGE_BYTES:
                    print(f"{kind:10} {content:11} {size[0]}x{size[1]} {label}: {len(data):,} bytes, over the upload limit")
                    continue
                seconds, outcome = cost(data, args.repeat)
                print(f"{kind:10} {content:11} {size[0]}x{size[1]} {label}: {len(data):>9,} bytes, "
                      f"{seconds:.2f} s CPU, {outcome}")
                if outcome == "stored" and seconds > worst[0]:
                    worst = (seconds, f"{kind} {content} {size[0]}x{size[1]}, {len(data):,} bytes")
    print(json.dumps({"pixel_budget": MAX_IMAGE_PIXELS, "worst_cpu_s": round(worst[0], 2), "worst": worst[1]}))


if __name__ == "__main__":
    main()
