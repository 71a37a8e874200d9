"""download: mirror first, then URL; verify before extracting; resume; refuse crafted archives."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.config import Source, SubsetConfig, compose, config_from_dict
from pipeline.data.datasets import read_dataset
from pipeline.data.download import SOURCE_MARKER, DownloadError, extract, fetch_dataset, fetch_url, is_in_place

from helpers import REPO


def make_archive(path: Path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def face_archive(tmp_path, utk_sample) -> tuple[Path, str]:
    files = {f"faces/{p.name}": p.read_bytes() for p in utk_sample[:20]}
    archive = tmp_path / "faces.tar.gz"
    return archive, make_archive(archive, files)


class Server:
    """A loopback HTTP server for one file, with Range support and two ways to misbehave."""

    def __init__(self, payload: bytes, mode: str = "ok"):
        self.payload, self.mode, self.requests = payload, mode, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                body, status = server.payload, 200
                if server.mode == "wrong":
                    body = bytes(reversed(body))
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    status = 206
                chunk = body[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(chunk)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if server.mode == "cut" and len(server.requests) == 1:
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/faces.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def source(sha256: str, url: str | None = None, archive: str = "faces/faces.tar.gz") -> Source:
    return Source(name="faces", reader="image_folder", archive=archive, sha256=sha256, url=url)


def test_http_download_verifies_extracts_and_then_does_nothing(tmp_path, face_archive):
    archive, sha = face_archive
    with Server(archive.read_bytes()) as server:
        folder, changed = fetch_dataset(source(sha, server.url), tmp_path / "raw", None, tmp_path / "dl")
        assert changed and len(list((folder / "faces").glob("*.jpg"))) == 20
        assert (folder / SOURCE_MARKER).is_file()
        stamp = (folder / SOURCE_MARKER).stat().st_mtime_ns
        folder, changed = fetch_dataset(source(sha, server.url), tmp_path / "raw", None, tmp_path / "dl")
        assert not changed and (folder / SOURCE_MARKER).stat().st_mtime_ns == stamp
        assert len(server.requests) == 1


def test_a_cut_connection_is_resumed_with_http_range(tmp_path, face_archive):
    archive, sha = face_archive
    payload = archive.read_bytes()
    with Server(payload, mode="cut") as server:
        path = fetch_url(server.url, tmp_path / "dl" / "faces.tar.gz", sha, "faces", timeout=10, retries=2)
    assert server.requests[0] is None
    assert server.requests[1] == f"bytes={len(payload) // 2}-"
    assert path.read_bytes() == payload
    assert not (tmp_path / "dl" / "faces.tar.gz.partial").exists()


def test_wrong_bytes_fail_the_checksum_and_leave_nothing(tmp_path, face_archive):
    archive, sha = face_archive
    with Server(archive.read_bytes(), mode="wrong") as server:
        with pytest.raises(DownloadError, match="sha256"):
            fetch_dataset(source(sha, server.url), tmp_path / "raw", None, tmp_path / "dl")
    assert not (tmp_path / "raw" / "faces").exists()
    assert list((tmp_path / "dl").iterdir()) == []


def test_file_urls_work(tmp_path, face_archive):
    archive, sha = face_archive
    folder, changed = fetch_dataset(source(sha, archive.as_uri()), tmp_path / "raw", None, tmp_path / "dl")
    assert changed and len(list(folder.rglob("*.jpg"))) == 20


def test_the_mirror_is_tried_first(tmp_path, mirror):
    lfw = Source(
        name="lfw",
        reader="lfw",
        archive="lfw/lfw-gender-2000.tar.gz",
        sha256="80a7e9b385d17393f593e986cd23e25bd0f10908d1111e852192a8bc125e188b",
        url="http://127.0.0.1:9/never-used",
    )
    folder, changed = fetch_dataset(lfw, tmp_path / "raw", mirror, tmp_path / "dl")
    assert changed and len(list((folder / "lfw").rglob("*.jpg"))) == 2000
    assert (folder / "female_names.txt").is_file()


def test_a_missing_mirror_file_without_url_says_where_it_looked_and_what_to_do(tmp_path):
    with pytest.raises(DownloadError) as error:
        fetch_dataset(source("0" * 64), tmp_path / "raw", tmp_path / "mirror", tmp_path / "dl")
    message = str(error.value)
    assert "'faces'" in message and str(tmp_path / "mirror" / "faces" / "faces.tar.gz") in message
    assert "GENREC_DATA_MIRROR" in message and "datasets.faces.url" in message


def test_an_unreachable_url_names_the_data_set(tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="'faces'.*could not download"):
        fetch_dataset(
            source("0" * 64, f"http://127.0.0.1:{port}/x.tar.gz"),
            tmp_path / "raw",
            None,
            tmp_path / "dl",
            timeout=2,
            retries=1,
        )


@pytest.mark.parametrize("subset", [None, SubsetConfig(images=3)], ids=["whole", "subset"])
def test_a_corrupt_mirror_file_is_refused(tmp_path, face_archive, subset):
    """Whole or a subset (the smoke experiment's), the archive's checksum is verified before anything is extracted."""
    archive, sha = face_archive
    (tmp_path / "mirror" / "faces").mkdir(parents=True)
    data = bytearray(archive.read_bytes())
    data[100] ^= 0xFF
    (tmp_path / "mirror" / "faces" / "faces.tar.gz").write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="sha256"):
        fetch_dataset(source(sha), tmp_path / "raw", tmp_path / "mirror", tmp_path / "dl", subset=subset)
    assert not (tmp_path / "raw" / "faces").exists()


def crafted_tar(path: Path, member: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w") as tar:
        good = tarfile.TarInfo("ok.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "info, why",
    [
        (member("/etc/evil"), "absolute"),
        (member("../evil"), "leaving"),
        (member("a/../../evil"), "leaving"),
        (member("link", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (member("hard", tarfile.LNKTYPE, "ok.txt"), "link"),
        (member("dev", tarfile.CHRTYPE), "device"),
        (member("fifo", tarfile.FIFOTYPE), "device"),
    ],
)
def test_crafted_archives_are_rejected_and_leave_nothing(tmp_path, info, why):
    archive = crafted_tar(tmp_path / "evil.tar", info)
    dest = tmp_path / "raw" / "evil"
    with pytest.raises(DownloadError, match=why):
        extract(archive, dest, "0" * 64)
    assert not dest.exists()
    assert list((tmp_path / "raw").iterdir()) == []
    assert not (tmp_path.parent / "evil").exists()


def test_a_crafted_zip_is_rejected(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../evil.txt", "x")
    with pytest.raises(DownloadError, match="leaving"):
        extract(archive, tmp_path / "raw" / "evil", "0" * 64)
    assert not (tmp_path / "raw" / "evil").exists()


def test_a_failed_extraction_keeps_the_previous_data(tmp_path, face_archive):
    archive, sha = face_archive
    dest = extract(archive, tmp_path / "raw" / "faces", sha)
    before = sorted(p.name for p in dest.rglob("*"))
    with pytest.raises(DownloadError):
        extract(crafted_tar(tmp_path / "evil.tar", member("../x")), dest, "0" * 64)
    assert sorted(p.name for p in dest.rglob("*")) == before


def test_a_gzipped_file_is_unpacked(tmp_path, mirror):
    dest = extract(mirror / "fakeavceleb" / "meta_data.csv.gz", tmp_path / "raw" / "fakeavceleb", "0" * 64)
    assert (dest / "meta_data.csv").read_text().startswith("source,target1")


# ---- download.subset: a seeded subset of each archive's images (the smoke experiment) ---------------------------


def labelled_archive(path: Path, order=sorted) -> tuple[Path, str]:
    """A labelled data set in the layouts of the mirror: 30 images in two folders, a labels.csv naming them by file
    name (CelebA) and by path beside it (FairFace), a name list and a video."""
    files = {f"set/img/{n:02d}.jpg": f"image {n}".encode() for n in range(20)}
    files |= {f"set/more/{n:02d}.png": f"image {n}".encode() for n in range(20, 30)}
    rows = [f"{n:02d}.jpg,{'male' if n % 2 else 'female'}" for n in range(20)]
    files["set/labels.csv"] = ("file,gender\n" + "\n".join(rows) + "\n").encode()
    beside = [f'more/{n:02d}.png,"a, quoted\nfield"' for n in range(20, 30)]
    files["set/beside.csv"] = ("path,note\r\n" + "\r\n".join(beside) + "\r\n").encode()
    files["set/names.txt"] = b"".join(f"{n:02d}.jpg\n".encode() for n in range(20))
    files["set/clip.mp4"] = b"not really a video"
    with tarfile.open(path, "w:gz") as tar:
        for name in order(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def images_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix in (".jpg", ".png")}


def test_a_subset_is_seeded_whatever_the_archive_order_and_keeps_every_other_member(tmp_path):
    archive, sha = labelled_archive(tmp_path / "set.tar.gz")
    shuffled, _ = labelled_archive(tmp_path / "shuffled.tar.gz", order=lambda f: sorted(f, reverse=True))
    subset = SubsetConfig(images=8, seed=3)
    first = extract(archive, tmp_path / "a" / "set", sha, subset)
    again = extract(shuffled, tmp_path / "b" / "set", sha, subset)
    chosen = images_in(first)
    assert len(chosen) == 8 and images_in(again) == chosen  # the same 8, from names and seed alone
    assert images_in(extract(archive, tmp_path / "c" / "set", sha, SubsetConfig(images=8, seed=4))) != chosen
    assert chosen < images_in(extract(archive, tmp_path / "d" / "set", sha, SubsetConfig(images=15, seed=3)))
    # Everything that is not an image comes whole: the name list and the video byte for byte.
    assert (first / "set" / "names.txt").read_text().count("\n") == 20
    assert (first / "set" / "clip.mp4").read_bytes() == b"not really a video"
    # Each label table keeps its header and exactly the rows of the images extracted, in order, quoting intact.
    labels = (first / "set" / "labels.csv").read_text().splitlines()
    assert labels[0] == "file,gender"
    assert [line.split(",")[0] for line in labels[1:]] == sorted(c.split("/")[-1] for c in chosen if "img/" in c)
    beside = (first / "set" / "beside.csv").read_bytes().decode()
    kept_png = sorted(c.removeprefix("set/") for c in chosen if c.endswith(".png"))
    assert beside == "path,note\r\n" + "".join(f'{name},"a, quoted\nfield"\r\n' for name in kept_png)
    # No folder is left empty by the images left out.
    assert all(any(folder.iterdir()) for folder in first.rglob("*") if folder.is_dir())


def test_the_marker_tells_a_subset_from_the_whole_archive(tmp_path):
    archive, sha = labelled_archive(tmp_path / "set.tar.gz")
    (tmp_path / "mirror" / "faces").mkdir(parents=True)
    archive.rename(tmp_path / "mirror" / "faces" / "faces.tar.gz")
    subset = SubsetConfig(images=5, seed=1)

    def fetch(wanted):
        return fetch_dataset(source(sha), tmp_path / "raw", tmp_path / "mirror", tmp_path / "dl", subset=wanted)

    folder, changed = fetch(subset)
    assert changed and len(images_in(folder)) == 5 and is_in_place(folder, sha, subset)
    assert not is_in_place(folder, sha) and not is_in_place(folder, sha, SubsetConfig(images=5, seed=2))
    assert fetch(subset) == (folder, False)
    folder, changed = fetch(None)  # the whole archive is asked for: extracted again, all of it
    assert changed and len(images_in(folder)) == 30
    assert json.loads((folder / SOURCE_MARKER).read_text()) == {"archive": "faces.tar.gz", "sha256": sha}


def test_the_smoke_subset_of_the_mirror_is_a_data_set_of_its_own(tmp_path, mirror):
    """The smoke experiment's subset of the mirror's CelebA and FairFace: every row of the readers is a file that is
    there, with its label; the default config extracts every member and writes no subset."""
    smoke = config_from_dict(compose(["experiment=smoke"], conf_dir=REPO / "conf"))
    assert smoke.download.subset == SubsetConfig(images=300, seed=smoke.seed)
    assert "subset" not in compose(conf_dir=REPO / "conf")["download"]  # params.yaml and dvc.lock unchanged
    for name in ("celeba", "fairface"):
        data_set = smoke.datasets[name]
        folder, _ = fetch_dataset(data_set, tmp_path / "raw", mirror, tmp_path / "dl", subset=smoke.download.subset)
        frame = read_dataset(data_set.reader, folder / data_set.root, name, **data_set.options)
        assert len(frame) == 300 and frame["gender"].notna().all()
        assert all(Path(path).is_file() for path in frame["path"])


def test_the_text_to_image_figures_are_cut_into_their_listed_tiles(tmp_path, mirror):
    """The mirror's SFHQ-T2I mosaics: every face tiles.csv lists is cut out at download, exactly the figure's
    decoded pixels, and read as one fake row per tile, split by the file it shows (mirror README: 519 rows, 497
    distinct files; SDXL 312, FLUX1_schnell 147, FLUX1_dev 44, FLUX1_pro 14, DALLE3 2)."""
    import cv2
    import numpy as np

    t2i = Source(
        name="t2i_sfhq",
        reader="mosaic_tiles",
        archive="t2i-sfhq/sfhq-t2i-figures.tar.gz",
        sha256="bebd69afc2f5b83cde4bfcb74ef75d6c565b83ba4ef3c26af6b9ed688c3c2187",
        root="sfhq-t2i",
    )
    folder, changed = fetch_dataset(t2i, tmp_path / "raw", mirror, tmp_path / "dl")
    tiles = sorted((folder / "sfhq-t2i" / "tiles").glob("*.png"))
    assert changed and len(tiles) == 519
    frame = read_dataset("mosaic_tiles", folder / "sfhq-t2i", "t2i_sfhq", exclude_generators=["DALLE3"])
    assert len(frame) == 517 and set(frame["real_fake"]) == {"fake"} and frame["gender"].isna().all()
    generators = frame["subset"].value_counts().to_dict()
    assert generators == {"SDXL": 312, "FLUX1_schnell": 147, "FLUX1_dev": 44, "FLUX1_pro": 14}
    assert frame["group"].nunique() == 495  # the distinct files, DALL-E 3's two left out
    first = cv2.imread(str(folder / "sfhq-t2i" / "tiles" / "SDXL_images_with_prompts_r1c1.png"))
    figure = cv2.imread(str(folder / "sfhq-t2i" / "figures" / "SDXL_images_with_prompts.jpg"))
    rows = [line.split(",") for line in (folder / "sfhq-t2i" / "tiles.csv").read_text().splitlines()[1:]]
    x, y, w, h = (int(v) for v in next(r for r in rows if r[0].endswith("/SDXL_images_with_prompts.jpg"))[3:7])
    assert np.array_equal(first, figure[y : y + h, x : x + w])
    assert fetch_dataset(t2i, tmp_path / "raw", mirror, tmp_path / "dl") == (folder, False)  # in place: nothing to do
