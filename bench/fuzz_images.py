"""Mutate small pictures of every accepted kind and feed them to parlor.images.process_image: any
exception other than Refused is a bug (a 500 for the sender). Prints a JSON line; saves each
escaping input to --out, for tests/corpus/images/.

    python -m bench.fuzz_images --minutes 8
"""
from __future__ import annotations

import argparse
import io
import json
import random
import time
import warnings
from collections import Counter
from pathlib import Path

import PIL.Image

from parlor.chat.images import process_image
from parlor.refusals import Refused


def _exif(orientation: int) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Camera"
    exif[0x8769] = {0x9003: "2020:01:01 00:00:00"}
    return exif.tobytes()


def seeds() -> dict[str, bytes]:
    """One small file per kind and variant: EXIF, comments, ICC, animation, transparency."""
    rgb = PIL.Image.new("RGB", (24, 16), (10, 120, 200))
    made = {}

    def add(name, picture, kind, **options):
        out = io.BytesIO()
        picture.save(out, kind, **options)
        made[name] = out.getvalue()

    add("jpeg", rgb, "JPEG", exif=_exif(6), comment=b"hello")
    add("jpeg-progressive", rgb, "JPEG", progressive=True, icc_profile=b"x" * 50)
    add("mpo", rgb, "MPO", save_all=True, append_images=[PIL.Image.new("RGB", (24, 16))])
    add("webp", rgb, "WEBP", exif=_exif(3))
    add("webp-lossless", PIL.Image.new("RGBA", (24, 16), (1, 2, 3, 100)), "WEBP", lossless=True)
    add("webp-animated", rgb, "WEBP", save_all=True, append_images=[PIL.Image.new("RGB", (24, 16))], duration=100)
    add("png-palette", PIL.Image.new("P", (24, 16)), "PNG", transparency=0)
    add("png-rgba", PIL.Image.new("RGBA", (24, 16)), "PNG", exif=_exif(8))
    add("gif", PIL.Image.new("P", (24, 16)), "GIF", comment=b"hi", transparency=0)
    add("gif-animated", PIL.Image.new("P", (24, 16)), "GIF", save_all=True,
        append_images=[PIL.Image.new("P", (24, 16), 3)], loop=0)
    return made


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1-6 changes: a byte replaced, a few deleted, or a few random ones inserted."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        at, kind = rng.randrange(len(out)), rng.random()
        if kind < 0.7:
            out[at] = rng.randrange(256)
        elif kind < 0.85:
            del out[at:at + rng.randint(1, 8)]
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
    return bytes(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("fuzz-images-found"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # Pillow warns about every corrupt file it survives
    rng, originals = random.Random(args.seed), seeds()
    outcomes, escaped = Counter(), Counter()
    deadline = time.monotonic() + args.minutes * 60
    while time.monotonic() < deadline:
        name = rng.choice(sorted(originals))
        data = mutate(originals[name], rng)
        try:
            process_image(data)
            outcomes["stored"] += 1
        except Refused as refused:
            outcomes[refused.kind] += 1
        except Exception as e:  # what the fuzzer is for
            key = f"{name}-{type(e).__name__}"
            escaped[key] += 1
            if escaped[key] <= 3:
                args.out.mkdir(exist_ok=True)
                (args.out / f"{key}-{escaped[key]}").write_bytes(data)
    print(json.dumps({"files": sum(outcomes.values()) + sum(escaped.values()), "outcomes": dict(outcomes),
                      "escaped": dict(escaped)}))


if __name__ == "__main__":
    main()
