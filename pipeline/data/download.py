"""Fetch a data set's archive (mirror first, then its URL), verify it, extract it safely."""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.error import URLError
from urllib.request import Request, urlopen

from tqdm import tqdm

from pipeline.config import Source, SubsetConfig
from pipeline.data.datasets import mosaic_tiles
from pipeline.errors import GenrecError

SOURCE_MARKER = ".genrec-source.json"
# Readers whose files need a step after extraction (by reader name): the mosaic figures' tiles are cut out once.
PREPARERS: dict[str, Callable[[Path], object]] = {"mosaic_tiles": mosaic_tiles.prepare}
CHUNK = 1 << 20
ARCHIVE_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class DownloadError(GenrecError, RuntimeError):
    """A data set could not be fetched, verified or extracted."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sha256: str, name: str) -> None:
    actual = sha256_file(path)
    if actual != sha256.lower():
        raise DownloadError(
            f"data set {name!r}: {path} has sha256 {actual}, expected {sha256}; "
            "the file is corrupt or a different release: replace it, or update "
            f"datasets.{name}.sha256 if you meant to use this file"
        )


def _progress(total: int | None, initial: int, desc: str) -> tqdm:
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="B",
        unit_scale=True,
        disable=not sys.stderr.isatty(),
    )


def _fetch_once(url: str, partial: Path, timeout: float, desc: str) -> None:
    """Fetch `url` into `partial`, continuing from its current size with HTTP Range."""
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with urlopen(Request(url, headers=headers), timeout=timeout) as response:
        status = getattr(response, "status", None)
        if offset and status != 206:  # the server ignored Range: start over
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        with open(partial, "ab" if offset else "wb") as out, _progress(total, offset, desc) as bar:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))
    size = partial.stat().st_size
    if total is not None and size < total:
        raise http.client.IncompleteRead(b"", total - size)


def fetch_url(url: str, dest: Path, sha256: str, name: str, timeout: float = 60, retries: int = 3) -> Path:
    """Download `url` to `dest` through `dest.partial`, resuming broken transfers; verify; rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and sha256_file(dest) == sha256.lower():
        return dest
    partial = dest.with_name(dest.name + ".partial")
    error: Exception | None = None
    for _ in range(retries + 1):
        try:
            _fetch_once(url, partial, timeout, desc=name)
            error = None
            break
        except (URLError, OSError, http.client.HTTPException) as caught:
            error = caught
    if error is not None:
        raise DownloadError(
            f"data set {name!r}: could not download {url} ({error}); check the address and "
            f"your connection, or put the archive in a mirror folder and set GENREC_DATA_MIRROR"
        )
    try:
        verify(partial, sha256, name)
    except DownloadError:
        partial.unlink(missing_ok=True)  # wrong bytes: never resume from them
        raise
    os.replace(partial, dest)
    return dest


def locate_archive(source: Source, mirror: Path | None, downloads: Path, timeout: float, retries: int) -> Path:
    """The verified archive of `source`: from the mirror when it has it, else from its URL."""
    looked = []
    if mirror is not None:
        candidate = mirror / source.archive
        if candidate.is_file():
            verify(candidate, source.sha256, source.name)
            return candidate
        looked.append(f"{candidate} (mirror)")
    if source.url:
        dest = downloads / PurePosixPath(source.archive).name
        return fetch_url(source.url, dest, source.sha256, source.name, timeout, retries)
    where = " and ".join(looked) or "no mirror (download.mirror is null)"
    raise DownloadError(
        f"data set {source.name!r}: looked in {where} and no URL is configured; "
        f"put {PurePosixPath(source.archive).name} there, point GENREC_DATA_MIRROR at a folder "
        f"holding {source.archive}, or set datasets.{source.name}.url"
        + (f" (the data set is published at {source.homepage})" if source.homepage else "")
    )


def _check_member(name: str, is_regular: bool, is_dir: bool, archive: Path) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DownloadError(f"{archive} holds an absolute path {name!r}; refusing to extract it")
    if ".." in path.parts:
        raise DownloadError(f"{archive} holds a path leaving the folder {name!r}; refusing to extract it")
    if not (is_regular or is_dir):
        raise DownloadError(f"{archive} holds {name!r}, which is a link or a device file; refusing to extract it")


def _subset_key(seed: int, name: str) -> bytes:
    return hashlib.sha256(f"{seed}:{name}".encode()).digest()


def choose_subset(files: list[str], subset: SubsetConfig | None) -> set[str]:
    """The regular members to extract: all of them, or every non-image and the subset's images.

    The images kept are the `subset.images` whose sha256 of "<seed>:<name>" is smallest: a choice that depends on
    the names and the seed only (not on the archive's order), and a larger subset holds every image of a smaller one.
    """
    if subset is None:
        return set(files)
    images = [name for name in files if name.lower().endswith(ARCHIVE_IMAGE_SUFFIXES)]
    chosen = sorted(images, key=lambda name: _subset_key(subset.seed, name))[: subset.images]
    return (set(files) - set(images)) | set(chosen)


def _with_folders(names: set[str]) -> set[str]:
    """`names` and every folder above them (the only folders a subset extracts)."""
    folders = {str(parent) for name in names for parent in PurePosixPath(name).parents if str(parent) != "."}
    return names | folders


def _extract_tar(archive: Path, into: Path, subset: SubsetConfig | None) -> list[str]:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(member.name, member.isreg(), member.isdir(), archive)
        files = [member.name for member in members if member.isreg()]
        if subset is not None:
            wanted = _with_folders(choose_subset(files, subset))
            members = [member for member in members if member.name.rstrip("/") in wanted]
        tar.extractall(into, members=members, filter="data")
    return files


def _extract_zip(archive: Path, into: Path, subset: SubsetConfig | None) -> list[str]:
    with zipfile.ZipFile(archive) as bundle:
        infos = bundle.infolist()
        for info in infos:
            mode = info.external_attr >> 16
            is_link = (mode & 0o170000) == 0o120000
            _check_member(info.filename, not info.is_dir() and not is_link, info.is_dir(), archive)
        files = [info.filename for info in infos if not info.is_dir()]
        if subset is None:
            bundle.extractall(into)
        else:
            bundle.extractall(into, members=sorted(choose_subset(files, subset)))
    return files


def _extract_gzip(archive: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    with gzip.open(archive, "rb") as source, open(into / archive.name[: -len(".gz")], "wb") as out:
        shutil.copyfileobj(source, out, CHUNK)


def _drop_rows_of_left_out_images(root: Path, files: list[str], subset: SubsetConfig | None) -> None:
    """A subset's .csv tables keep their header and the rows whose first field names no left-out image.

    A row names an image by its path relative to the table's folder or by its file name (CelebA's labels.csv
    lists img_align_celeba/<file> by file name, FairFace's by its path beside the table). The readers list a
    data set from its table, so a row of an image that is not there would count as an unreadable image.
    """
    if subset is None:
        return
    kept = choose_subset(files, subset)
    left_out = [PurePosixPath(name) for name in files if name not in kept]
    if not left_out:
        return
    for table in (name for name in files if name.lower().endswith(".csv")):
        folder = PurePosixPath(table).parent
        names = {path.name for path in left_out if folder in path.parents}
        names |= {str(path.relative_to(folder)) for path in left_out if folder in path.parents}
        path = root / table
        with open(path, encoding="utf-8", newline="") as handle:
            lines = list(io.StringIO(handle.read(), newline=""))
        consumed: list[str] = []

        def feed(lines=lines, consumed=consumed):
            for line in lines:
                consumed.append(line)
                yield line

        rows, dropped = [], 0
        for number, record in enumerate(csv.reader(feed())):
            text = "".join(consumed)
            consumed.clear()
            if number and record and record[0] in names:
                dropped += 1
            else:
                rows.append(text)
        if dropped:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write("".join(rows))


def _marker(archive: Path, sha256: str, subset: SubsetConfig | None) -> dict:
    """What the marker records: the archive and checksum, and the subset when there is one."""
    marker = {"archive": archive.name, "sha256": sha256}
    if subset is not None:
        marker["subset"] = subset.model_dump()
    return marker


def extract(
    archive: Path,
    dest: Path,
    sha256: str,
    subset: SubsetConfig | None = None,
    prepare: tuple[Callable[[Path], object], str] | None = None,
) -> Path:
    """Extract `archive` (or a seeded subset of its images) into `dest` atomically: all of it, or nothing and
    the old `dest` kept. `prepare`: the reader's step on the extracted files and the folder it runs in (cutting
    the mosaic tiles), done before the marker is written, so a failed step leaves no half-prepared data set."""
    staging = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    name = archive.name.lower()
    try:
        if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
            _drop_rows_of_left_out_images(staging, _extract_tar(archive, staging, subset), subset)
        elif name.endswith(".zip"):
            _drop_rows_of_left_out_images(staging, _extract_zip(archive, staging, subset), subset)
        elif name.endswith(".gz"):
            _extract_gzip(archive, staging)
        else:
            shutil.copy2(archive, staging / archive.name)
        if prepare is not None:
            step, root = prepare
            step(staging / root)
        (staging / SOURCE_MARKER).write_text(json.dumps(_marker(archive, sha256, subset)))
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(f"could not extract {archive}: {error}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(staging, dest)
    return dest


def is_in_place(dest: Path, sha256: str, subset: SubsetConfig | None = None) -> bool:
    """True when `dest` holds a complete extraction of the archive with this checksum (and this subset)."""
    marker = dest / SOURCE_MARKER
    try:
        found = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    expected = subset.model_dump() if subset is not None else None
    return found.get("sha256") == sha256.lower() and found.get("subset") == expected


def fetch_dataset(
    source: Source,
    raw_dir: Path,
    mirror: Path | None,
    downloads: Path,
    timeout: float = 60,
    retries: int = 3,
    subset: SubsetConfig | None = None,
) -> tuple[Path, bool]:
    """Make raw_dir/<name> hold the data set (or its subset); returns (folder, whether anything was done)."""
    dest = raw_dir / source.name
    if is_in_place(dest, source.sha256, subset):
        return dest, False
    archive = locate_archive(source, mirror, downloads, timeout, retries)
    step = PREPARERS.get(source.reader)
    return extract(archive, dest, source.sha256, subset, None if step is None else (step, source.root)), True
