"""Examples drawn as images for the labelling page: pixel values to a PNG ``data:`` URL.

Pure Python (zlib and struct): no imaging library, nothing fetched from elsewhere. Values are
scaled from the row's own range to 0-255 (digits' 0-16 become black to white).
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

__all__ = ["png_data_url", "image_bytes_url"]

_MAGIC = {
    "iVBORw0KGgo": "image/png",  # base64 of the PNG signature
    "/9j/": "image/jpeg",
    "R0lGOD": "image/gif",
}


def png_data_url(values: Sequence[Any], shape: Sequence[int]) -> str | None:
    """A PNG of ``values`` (flat, row-major; ``shape`` is (h, w) or (h, w, channels)), as a
    ``data:`` URL; None when the values do not fill the shape or are not numbers."""
    flat = list(_flatten(values))
    height, width = int(shape[0]), int(shape[1])
    channels = int(shape[2]) if len(shape) == 3 else 1
    if len(flat) != height * width * channels or not flat:
        return None
    try:
        numbers = [float(v) if v is not None else math.nan for v in flat]
    except (TypeError, ValueError):
        return None
    finite = [v for v in numbers if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if low >= 0 and high <= 1 and high > 0:
        low, high = 0.0, 1.0
    elif low >= 0:
        low = 0.0
    span = (high - low) or 1.0
    scaled = bytes(
        0 if not math.isfinite(v) else max(0, min(255, round((v - low) / span * 255)))
        for v in numbers
    )
    color = {1: 0, 3: 2, 4: 6}[channels]
    stride = width * channels
    raw = b"".join(b"\x00" + scaled[r * stride : (r + 1) * stride] for r in range(height))
    png = b"\x89PNG\r\n\x1a\n" + _chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    )
    png += _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_bytes_url(value: Any) -> str | None:
    """A ``data:`` URL for an image file's bytes sent as base64 text (PNG, JPEG, GIF)."""
    if not isinstance(value, str):
        return None
    for prefix, kind in _MAGIC.items():
        if value.startswith(prefix):
            return f"data:{kind};base64,{value}"
    return None


def _flatten(values: Any) -> Any:
    for v in values:
        if isinstance(v, list | tuple):
            yield from _flatten(v)
        else:
            yield v


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
