"""Crafting image files at test time: headers that claim huge sizes, and large compressible images.

Every file is written byte by byte here (nothing hostile is committed as a binary), and
none is ever held decoded by the test process: a 12,000 × 12,000 PNG is streamed through
zlib one row at a time.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header(width: int, height: int, *, colour_type: int = 2, data: bytes = b"") -> bytes:
    """A PNG whose IHDR declares ``width × height`` (8-bit; colour type 2 = RGB) followed by ``data`` as IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    idat = zlib.compress(data or b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def compressible_png(path: Path, width: int, height: int, *, colour_type: int = 0) -> Path:
    """A real, complete ``width × height`` PNG of a flat grey (colour type 0) or RGB (2), deflated row by row.

    A 12,000 × 12,000 RGB image is 432 MB raw and a few hundred kilobytes here.
    """
    channels = {0: 1, 2: 3}[colour_type]
    row = b"\x00" + bytes([128]) * (width * channels)  # filter type 0, then the pixels
    deflate = zlib.compressobj(9)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)))
        pending = bytearray()
        for _ in range(height):
            pending += deflate.compress(row)
            if len(pending) > 1 << 20:
                f.write(_chunk(b"IDAT", bytes(pending)))
                pending.clear()
        pending += deflate.flush()
        f.write(_chunk(b"IDAT", bytes(pending)) + _chunk(b"IEND", b""))
    return path


def bmp_header(width: int, height: int) -> bytes:
    """A 24-bit BMP whose BITMAPINFOHEADER declares ``width × height``, with a few bytes of pixels."""
    pixels = b"\x00" * 64
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    header = b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return header + info + pixels


def gif_header(width: int, height: int) -> bytes:
    """A GIF89a whose screen and first image both declare ``width × height`` (at most 65,535 each)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    lzw = b"\x02\x02\x44\x01\x00"  # minimum code size 2, one sub-block: clear, a pixel, end
    return screen + image + lzw + b"\x3b"


def jpeg_header(width: int, height: int) -> bytes:
    """A baseline JPEG whose SOF0 declares ``width × height`` (at most 65,535 each), then a scan of no data."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    dqt = b"\x00" + bytes([1] * 64)
    dht = b"\x00" + bytes([0, 1] + [0] * 14) + b"\x00"  # one code of length 2 for symbol 0
    sos = b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"

    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data

    return (b"\xff\xd8" + segment(0xDB, dqt) + segment(0xC0, sof) + segment(0xC4, dht) + segment(0xDA, sos)
            + b"\x00" * 16 + b"\xff\xd9")
