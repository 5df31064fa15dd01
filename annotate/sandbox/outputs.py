"""What a program left in the box's output folder (stand-ins used, plots), checked on the host.

The box's driver sends it on its "done" message (sandbox_runtime/README.md, "What the host collects");
everything in it came from untrusted code. Events are reduced to the few fields the app shows, cut to
size; plots must be PNGs within the caps, are decoded with Pillow under a pixel cap and re-encoded, and
get names made here from their order and kind, never the box's.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from typing import Any

from django.conf import settings
from PIL import Image

from annotate.sandbox.result import clean_text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_PLOT_PIXELS = 16 * 1024**2  # e.g. a 10 x 8 inch figure at 400 dpi
MAX_STANDINS = 32
MAX_TEXT = 500
STANDIN_FIELDS = {
    "what": str, "message": str, "dataset": str, "model": str, "split": str,
    "train_examples": int, "test_examples": int, "synthetic": bool,
}  # fmt: skip
PLOT_SOURCES = ("show", "savefig")
_BOX_PLOT_NAME = re.compile(r"^\d{3}-([a-z]+)\.png$")


def plot_caps() -> tuple[int, int]:
    """(most plots per run, most bytes per plot), from T2J_PLOTS_MAX_COUNT and T2J_PLOTS_MAX_BYTES."""
    return settings.T2J_PLOTS_MAX_COUNT, settings.T2J_PLOTS_MAX_BYTES


def standins(events: Any) -> list[dict[str, Any]]:
    """The stand-in events of the box, each with only STANDIN_FIELDS of the right type, once per message."""
    found, seen = [], set()
    for item in events if isinstance(events, list) else []:
        if not isinstance(item, dict) or item.get("kind") != "standin":
            continue
        kept = {
            name: clean_text(value)[:MAX_TEXT] if kind is str else value
            for name, kind in STANDIN_FIELDS.items()
            if isinstance(value := item.get(name), kind) and not (kind is int and isinstance(value, bool))
        }
        if kept.get("message") and kept["message"] not in seen:
            seen.add(kept["message"])
            found.append(kept)
        if len(found) >= MAX_STANDINS:
            break
    return found


def plots(sent: Any) -> list[dict[str, Any]]:
    """The box's plots that are real PNGs within the caps, re-encoded: [{"name", "source", "png": base64}]."""
    max_count, max_bytes = plot_caps()
    found = []
    for item in sent if isinstance(sent, list) else []:
        if len(found) >= max_count:
            break
        if not isinstance(item, dict) or not isinstance(item.get("png"), str):
            continue
        if len(item["png"]) > (max_bytes * 4) // 3 + 4:
            continue
        png = reencode_png(_b64decode(item["png"]), max_bytes)
        if png is None:
            continue
        match = _BOX_PLOT_NAME.match(str(item.get("name", "")))
        source = match.group(1) if match and match.group(1) in PLOT_SOURCES else "plot"
        found.append(
            {"name": f"{len(found) + 1:03d}-{source}.png", "source": source, "png": base64.b64encode(png).decode()}
        )
    return found


def reencode_png(data: bytes | None, max_bytes: int) -> bytes | None:
    """`data` decoded as a PNG of at most MAX_PLOT_PIXELS and written again by Pillow (no ancillary chunks
    carried over), or None when it is not one or either side is over `max_bytes`."""
    if not data or len(data) > max_bytes or not data.startswith(PNG_MAGIC):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                width, height = image.size
                if width * height > MAX_PLOT_PIXELS:
                    return None
                image.load()
                if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
                    image = image.convert("RGBA")
                out = io.BytesIO()
                image.save(out, format="PNG")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
    result = out.getvalue()
    return result if len(result) <= max_bytes * 2 else None


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None
