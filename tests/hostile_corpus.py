"""Hostile uploads for GEN_REC, built from scratch (and one real face chip): each with the status it must get.

Used by tests/scenarios/test_hostile_uploads.py and benchmarks/serve_load.py.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    status: int  # the answer it must get
    words: str = ""  # in the error message (or, for 200, a key of the answer)


def face_photo(chip: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """A face chip (BGR) pasted large in the middle of a plain photo."""
    photo = np.full((height, width, 3), 190, np.uint8)
    side = min(width, height) // 2
    x, y = (width - side) // 2, (height - side) // 2
    photo[y : y + side, x : x + side] = cv2.resize(chip, (side, side), interpolation=cv2.INTER_CUBIC)
    return photo


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def scan_bomb(repeats: int = 500) -> bytes:
    """A progressive JPEG of a large flat image whose last scan is repeated: each repeat is a few
    bytes but one more pass over every coefficient for the decoder."""
    flat = np.full((2048, 2048, 3), 128, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(flat).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    last = data.rfind(b"\xff\xda")
    return data[:-2] + data[last:-2] * repeats + b"\xff\xd9"


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height, with a few rows of real data (a decompression bomb's header)."""
    rows = zlib.compress(b"\x00" + b"\x00" * width * 3, 9) if width < 100_000 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def radiance_hdr(width: int = 16000, height: int = 16000) -> bytes:
    """A Radiance .hdr header claiming 16000 x 16000, with a little RLE data."""
    return (
        b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n"
        + f"-Y {height} +X {width}\n".encode()
        + bytes([2, 2, width >> 8, width & 255])
        + b"\x80\x00" * 4096
    )


def pfm(size: int = 512) -> bytes:
    return b"PF\n%d %d\n-1.0\n" % (size, size) + np.zeros((size, size, 3), "<f4").tobytes()


def many_page_tiff(pages: int = 200) -> bytes:
    frames = [Image.new("RGB", (256, 256), (i, i, i)) for i in range(pages)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def animated_gif(frames: int = 300) -> bytes:
    images = [Image.new("P", (320, 240), i % 256) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=10, loop=0)
    return buffer.getvalue()


def noise(size: int) -> bytes:
    return np.random.default_rng(0).integers(0, 256, size, np.uint8).tobytes()


def corrupt_middle(data: bytes) -> bytes:
    """The file with 64 bytes in its middle overwritten (a PNG's data chunk then fails its CRC)."""
    middle = len(data) // 2
    return data[:middle] + noise(64) + data[middle + 64 :]


def video(path: Path, frames: list[np.ndarray], fps: float) -> bytes:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path.read_bytes()


def hostile_corpus(chip: np.ndarray, folder: Path) -> list[Hostile]:
    """The corpus of issue 16, each item with the status GEN_REC must answer."""
    photo = jpeg(face_photo(chip))
    giant = face_photo(chip, 6324, 6324)
    uhd = face_photo(chip, 3840, 2160)
    lying = video(folder / "lying-fps.mp4", [face_photo(chip, 320, 240)] * 150, fps=10_000)
    return [
        Hostile("progressive JPEG scan bomb", scan_bomb(), 422, "scans"),
        Hostile("Radiance HDR 16000x16000", radiance_hdr(), 415, "not an image or a video"),
        Hostile("PFM", pfm(), 415, "not an image or a video"),
        Hostile("TIFF with 200 pages", many_page_tiff(), 415, "not an image or a video"),
        Hostile("animated GIF with 300 frames", animated_gif(), 415, "not an image or a video"),
        Hostile("PNG declaring 16000x16000", png_declaring(16000, 16000), 413, "too many pixels"),
        Hostile("giant single-face JPEG 6324x6324", jpeg(giant, 80), 200, "faces"),
        Hostile("4K video", video(folder / "uhd.mp4", [uhd] * 8, fps=4), 200, "frames"),
        Hostile("video claiming 10,000 fps", lying, 200, "frames"),
        Hostile("PNG 39000x2", cv2.imencode(".png", np.zeros((2, 39000, 3), np.uint8))[1].tobytes(), 422, "narrow"),
        Hostile("truncated JPEG", photo[: len(photo) // 2], 422, "corrupt"),
        Hostile("JPEG signature, garbage inside", photo[:3] + noise(20_000) + b"\xff\xd9", 422, "corrupt"),
        Hostile(
            "PNG with a corrupt data chunk",
            corrupt_middle(cv2.imencode(".png", face_photo(chip))[1].tobytes()),
            422,
            "corrupt",
        ),
        Hostile("truncated PNG", cv2.imencode(".png", face_photo(chip))[1].tobytes()[:30_000], 422, "corrupt"),
        Hostile("truncated MP4", lying[:3000], 422, "corrupt"),
        Hostile("MP4 signature, garbage inside", lying[:32] + bytes(50_000), 422, "corrupt"),
        Hostile(
            "polyglot JPEG + HTML/ZIP",
            photo + b"<html><script>alert(1)</script></html>PK\x05\x06" + bytes(18),
            200,
            "faces",
        ),
        Hostile("polyglot HTML + JPEG", b"<html><script>alert(1)</script></html>" + photo, 415, "not an image"),
    ]
