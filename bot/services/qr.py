"""QR codes as PNG images, free of Telegram: an invite's deep link to scan at a meeting."""

from __future__ import annotations

import io

import segno

# Large modules and the standard four-module quiet zone, so a phone camera reads the code
# off a projector or a printout; error level M survives a crease or a glare spot.
SCALE = 10
BORDER = 4


def qr_png(text: str, *, scale: int = SCALE, border: int = BORDER) -> bytes:
    """`text` as a black-on-white QR code in PNG."""
    code = segno.make(text, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=border)
    return buffer.getvalue()
