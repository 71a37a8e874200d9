"""What an upload may be, checked from its bytes before any decoder runs, and where it lives meanwhile.

- Formats by allowlist and signature: JPEG, PNG and WebP images; MP4/MOV, AVI
  and Matroska/WebM videos. Everything else (HDR, EXR, PFM, TIFF, GIF, text,
  HTML, ...) is refused with 415, whatever its name says.
- Images: the declared size is read from the header and capped before
  decoding; a JPEG's scans are counted (each progressive scan costs a pass
  over the whole image) and it must end with its end-of-image marker; then the
  bytes are decoded once, a large JPEG directly at 1/2, 1/4 or 1/8 scale, and
  shrunk to the working size.
- Uploads are written to a per-process private folder (this user's, 0700, no
  symlink) as unnamed files, so nothing of an upload survives its process;
  folders of processes that are gone are swept at start and periodically.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import shutil
import stat
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline.errors import GenrecError

log = logging.getLogger("genrec.serve")

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")
VIDEO_FORMATS = ("MP4/MOV", "AVI", "MKV/WEBM")
ACCEPTED = "JPEG, PNG or WebP images; MP4, MOV, AVI, MKV or WebM videos"
# Encoders write 1 (baseline) to about 10 (progressive) scans; a few hundred
# turn a small file into seconds of decoding.
MAX_JPEG_SCANS = 32
# A face needs more than this many pixels on the shorter side of the working image.
MIN_WORKING_SIDE = 16


class UploadError(GenrecError):
    """An upload that cannot be analysed; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def sniff(head: bytes) -> str | None:
    """The accepted format whose signature starts `head`, or None."""
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return "MP4/MOV"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "MKV/WEBM"
    return None


def jpeg_scans(data: bytes) -> int:
    """The number of scans of a JPEG, walking its markers; raises UploadError (422) if it is truncated.

    Segment lengths are followed up to the first scan; from there on, entropy-coded
    data cannot hold 0xFFDA (a 0xFF byte in it is followed by 0x00 or a restart
    marker), so the remaining scans are counted by their start marker.
    """
    position = 2
    while True:
        marker = data.find(b"\xff", position)
        if marker < 0 or marker + 4 > len(data):
            raise UploadError("the image is corrupt: the JPEG ends before its first scan", 422)
        kind = data[marker + 1]
        if kind == 0xFF or kind == 0x00 or 0xD0 <= kind <= 0xD7:
            position = marker + 1
            continue
        if kind == 0xD9:
            raise UploadError("the image is corrupt: the JPEG has no scan", 422)
        if kind == 0xDA:
            break
        position = marker + 2 + int.from_bytes(data[marker + 2 : marker + 4], "big")
    if data.rfind(b"\xff\xd9", marker) < 0:
        raise UploadError("the image is corrupt (truncated): the JPEG has no end marker", 422)
    return 1 + data.count(b"\xff\xda", marker + 2)


def png_is_complete(data: bytes) -> bool:
    """Whether a PNG's chunk chain reaches IEND (length-prefixed chunks: a cheap walk)."""
    position = 8
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if kind == b"IEND":
            return True
        position += 12 + length
    return False


def declared_size(data: bytes, kind: str) -> tuple[int, int]:
    """(width, height) from the header, read by Pillow restricted to this one format (nothing decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                return image.size
    except Image.DecompressionBombError:
        raise UploadError("the image has too many pixels", 413) from None
    except Exception:  # Pillow raises many types for malformed headers
        raise UploadError("the image is corrupt: its header cannot be read", 422) from None


def working_scale(width: int, height: int, working_side: int) -> float:
    return min(1.0, working_side / max(width, height))


def shrink(image: np.ndarray, working_side: int) -> np.ndarray:
    """The image with its longer side at most working_side."""
    scale = working_scale(image.shape[1], image.shape[0], working_side)
    if scale == 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def check_image(data: bytes, kind: str, max_pixels: int, working_side: int) -> tuple[int, int]:
    """The declared (width, height) of an accepted image, or UploadError: too many pixels (413),
    too narrow for a face (422), truncated (422), too many JPEG scans (422)."""
    width, height = declared_size(data, kind)
    if width * height > max_pixels:
        raise UploadError(f"the image has too many pixels ({width}x{height}; at most {max_pixels:,})", 413)
    scale = working_scale(width, height, working_side)
    if min(width, height) * scale < MIN_WORKING_SIDE:
        raise UploadError(f"the image is too small or too narrow to hold a face ({width}x{height})", 422)
    if kind == "JPEG":
        scans = jpeg_scans(data)
        if scans > MAX_JPEG_SCANS:
            raise UploadError(f"the JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are decoded", 422)
    elif kind == "PNG" and not png_is_complete(data):
        raise UploadError("the image is corrupt (truncated): the PNG has no end chunk", 422)
    return width, height


def decode_flag(kind: str, width: int, height: int, working_side: int) -> int:
    """How cv2 decodes: a JPEG much larger than the working size directly at 1/2, 1/4 or 1/8 scale
    (libjpeg skips most of the work), anything else in full."""
    reduction = max(width, height) // working_side if kind == "JPEG" else 1
    for factor, flag in (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ):
        if reduction >= factor:
            return flag
    return cv2.IMREAD_COLOR


def decode_image(data: bytes, max_pixels: int, working_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(BGR image at the working size, declared (width, height)); the bytes are decoded once."""
    kind = sniff(data[:16])
    if kind not in IMAGE_FORMATS:
        raise UploadError(f"the file is not an accepted image ({ACCEPTED})", 415)
    width, height = check_image(data, kind, max_pixels, working_side)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), decode_flag(kind, width, height, working_side))
    if image is None:
        raise UploadError("the image is corrupt: it cannot be decoded", 422)
    return shrink(image, working_side), (width, height)


# --- where uploads live ---------------------------------------------------------------------------------------------


def default_root() -> Path:
    return Path(tempfile.gettempdir()) / f"genrec-uploads-{os.getuid()}"


def private_folder(path: Path) -> Path:
    """`path` as a folder only this user can enter: created 0700, or refused if it is a symlink,
    someone else's, or open to others (GenrecError with one sentence)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise GenrecError(f"the upload folder {path} is a symlink or not a folder: remove it or set serve.upload_dir")
    if info.st_uid != os.getuid():
        raise GenrecError(
            f"the upload folder {path} belongs to uid {info.st_uid}, not to this user: set serve.upload_dir"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        raise GenrecError(
            f"the upload folder {path} has mode {stat.S_IMODE(info.st_mode):o}, not 700: "
            "chmod 700 it or set serve.upload_dir"
        )
    return path


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a pid's reuse apart), or None if it is gone."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat_line.rsplit(")", 1)[1].split()[19]


def process_folder_name(pid: int) -> str:
    return f"proc-{pid}-{process_start(pid)}"


def sweep(root: Path) -> int:
    """Remove the folders of processes that are gone (and anything else that is not a live
    process's folder); the number of entries removed."""
    removed = 0
    for entry in root.iterdir():
        parts = entry.name.split("-")
        if len(parts) == 3 and parts[0] == "proc" and parts[1].isdigit() and entry.is_dir() and not entry.is_symlink():
            if process_folder_name(int(parts[1])) == entry.name:
                continue  # its process lives
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("upload sweep removed %d entries left by processes that are gone", removed)
    return removed


@dataclass
class UploadFolder:
    """This process's private folder under a checked root, swept of dead processes' folders."""

    root: Path
    sweep_every_s: float
    _folder: Path | None = None
    _pid: int | None = None
    _last_sweep: float = 0.0

    @classmethod
    def open(cls, upload_dir: str | None, sweep_every_s: float) -> UploadFolder:
        folder = cls(private_folder(Path(upload_dir) if upload_dir else default_root()), sweep_every_s)
        folder.sweep_if_due(force=True)
        return folder

    @property
    def folder(self) -> Path:
        """This process's folder (a forked process gets its own)."""
        if self._pid != os.getpid():
            self._folder = private_folder(self.root / process_folder_name(os.getpid()))
            self._pid = os.getpid()
            atexit.register(shutil.rmtree, self._folder, True)  # a clean exit leaves nothing to sweep
        return self._folder

    def sweep_if_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_sweep >= self.sweep_every_s:
            self._last_sweep = now
            sweep(self.root)

    def new_file(self):
        """An unnamed temporary file in this process's folder: it disappears with its last descriptor,
        also when the process is killed."""
        self.sweep_if_due()
        return tempfile.TemporaryFile(dir=self.folder)
