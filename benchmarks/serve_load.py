"""Load test of `genrec serve` on loopback: concurrent clients uploading a 640x480 face photo, alone and
mixed with hostile uploads.

Starts `genrec serve` (gunicorn) in the project on a free port with a
private upload folder, then:
1. one client, sequential requests: the median latency of a single image;
2. all-normal: `--clients` concurrent clients sending `--requests` photos;
3. mixed: the same, but one request in ten is an item of the hostile corpus
   (tests/hostile_corpus.py: scan bomb, HDR, TIFF, GIF, PNG bomb header,
   giant JPEG, 4K video, lying-fps video, 39000x2 PNG, corrupt media, polyglots).
Prints both runs side by side (errors, p50 / p95 of the normal requests,
throughput) and the ratio of the normal p95s, and checks that the upload
folder is empty at the end. Needs the trained models (`dvc repro`).

Run: python benchmarks/serve_load.py [--clients 8 --requests 400 --workers 2 --project .]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from hostile_corpus import Hostile, hostile_corpus  # noqa: E402


def chips(project: Path) -> tuple[np.ndarray, np.ndarray]:
    """A man's and a woman's UTKFace chip from the project's data."""
    found = sorted((project / "data" / "raw" / "utkface" / "UTKFace").glob("*.jpg"))
    if not found:
        raise SystemExit(f"no UTKFace images under {project}/data/raw/utkface: run `dvc repro` first")
    return (
        cv2.imread(str(next(p for p in found if p.name.startswith("35_0_0_")))),
        cv2.imread(str(next(p for p in found if p.name.startswith("35_1_0_")))),
    )


def photo_640x480(man: np.ndarray, woman: np.ndarray) -> bytes:
    """Two UTKFace faces on a 640x480 photo (JPEG)."""
    photo = np.full((480, 640, 3), 190, np.uint8)
    photo[140:340, 60:260] = man
    photo[140:340, 380:580] = woman
    return cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "genrecload"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def upload(url: str, data: bytes) -> tuple[float, int, dict]:
    """(seconds, HTTP status or 0 on a connection error, answer)."""
    body, content_type = multipart(data)
    start = time.perf_counter()
    try:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=60) as response:
            status, answer = response.status, json.loads(response.read())
    except urllib.error.HTTPError as failure:
        status, answer = failure.code, json.loads(failure.read() or b"{}")
    except (OSError, ValueError):
        status, answer = 0, {}
    return time.perf_counter() - start, status, answer


def start_server(project: Path, port: int, workers: int, uploads: Path) -> subprocess.Popen:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["serve"] = {**params["serve"], "upload_dir": str(uploads)}
    params_file = uploads.parent / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    env = {
        **os.environ,
        "GENREC_PARAMS": str(params_file),
        "DVC_ROOT": str(project),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return process
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise SystemExit("genrec serve did not start: run `dvc repro` first") from None
            time.sleep(0.5)


def in_process_median(project: Path, params_file: Path, photo: bytes, repeats: int) -> float:
    """The baseline of the single-image figure: the same analysis called in this process, one thread,
    without HTTP, upload handling or the analysis child (seconds, median)."""
    os.environ.update(GENREC_PARAMS=str(params_file), DVC_ROOT=str(project))
    from threadpoolctl import threadpool_limits

    from pipeline.config import load_config
    from pipeline.serving.webapp import load_analyzer, warm_up

    cv2.setNumThreads(1)
    analyzer, _ = load_analyzer(load_config(params_file))
    warm_up(analyzer)
    path = params_file.parent / "photo.jpg"
    path.write_bytes(photo)
    times = []
    with threadpool_limits(1):
        for _ in range(repeats + 3):
            start = time.perf_counter()
            analyzer.analyse(path)
            times.append(time.perf_counter() - start)
    return statistics.median(times[3:])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run(url: str, clients: int, requests: list[tuple[bytes, Hostile | None]]) -> dict:
    """Send the requests from `clients` threads; latency and errors of the normal ones, wrong answers of the hostile."""
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda job: (job[1], *upload(url, job[0])), requests))
    elapsed = time.perf_counter() - start
    normal = [(took, status, answer) for item, took, status, answer in results if item is None]
    hostile = [(item, took, status) for item, took, status, _ in results if item is not None]
    latencies = [took for took, _, _ in normal]
    return {
        "requests": len(requests),
        "normal": len(normal),
        "hostile": len(hostile),
        "normal_errors": sum(status != 200 or "faces" not in answer for _, status, answer in normal),
        "hostile_wrong": sum(status != item.status for item, _, status in hostile),
        "hostile_max_s": max((took for _, took, _ in hostile), default=0.0),
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "rate": len(requests) / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single", type=int, default=30, help="sequential requests for the single-image median")
    parser.add_argument("--hostile-every", type=int, default=10, help="one request in this many is hostile")
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="a project with data/models and data/raw (default: here)"
    )
    args = parser.parse_args()

    man, woman = chips(args.project)
    photo = photo_640x480(man, woman)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        corpus = hostile_corpus(woman, Path(scratch))
        all_normal = [(photo, None)] * args.requests
        mixed = [
            (corpus[i // args.hostile_every % len(corpus)].data, corpus[i // args.hostile_every % len(corpus)])
            if i % args.hostile_every == args.hostile_every - 1
            else (photo, None)
            for i in range(args.requests)
        ]
        uploads = Path(scratch) / "uploads"
        server = start_server(args.project, port, args.workers, uploads)
        direct = in_process_median(args.project, uploads.parent / "params.yaml", photo, args.single)
        url = f"http://127.0.0.1:{port}/api/predict"
        try:
            for _ in range(3):  # warm every worker
                upload(url, photo)
            single = [upload(url, photo)[0] for _ in range(args.single)]
            runs = {"all normal": run(url, args.clients, all_normal), "mixed": run(url, args.clients, mixed)}
        finally:
            server.terminate()
            server.wait(timeout=30)
        left = [path for path in uploads.rglob("*") if not path.is_dir()]

    served = statistics.median(single)
    print(
        f"single client, {args.single} sequential 640x480 images: median {1000 * served:.1f} ms served; "
        f"the same analysis in-process (no HTTP, no child) {1000 * direct:.1f} ms: "
        f"{served / direct:.2f}x, +{1000 * (served - direct):.1f} ms"
    )
    print(
        f"{args.clients} clients, {args.requests} requests, {args.workers} workers; "
        f"mixed: 1 in {args.hostile_every} from the {len(corpus)}-item hostile corpus"
    )
    rows = [
        ("normal requests", "normal", "{:d}"),
        ("hostile requests", "hostile", "{:d}"),
        ("errors on normal requests", "normal_errors", "{:d}"),
        ("hostile answered with a wrong status", "hostile_wrong", "{:d}"),
        ("slowest hostile answer (s)", "hostile_max_s", "{:.2f}"),
        ("normal p50 (ms)", "p50_ms", "{:.1f}"),
        ("normal p95 (ms)", "p95_ms", "{:.1f}"),
        ("requests/s", "rate", "{:.1f}"),
    ]
    print(f"{'':40s}{'all normal':>14s}{'mixed':>14s}")
    for label, key, fmt in rows:
        print(f"{label:40s}" + "".join(f"{fmt.format(runs[name][key]):>14s}" for name in ("all normal", "mixed")))
    ratio = runs["mixed"]["p95_ms"] / runs["all normal"]["p95_ms"]
    print(f"normal p95, mixed / all normal: {ratio:.2f}x (target: within 2x)")
    print(f"upload folder after the runs: {len(left)} files")
    ok = (
        runs["all normal"]["normal_errors"] == 0
        and runs["mixed"]["normal_errors"] == 0
        and runs["mixed"]["hostile_wrong"] == 0
        and ratio <= 2
        and not left
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
