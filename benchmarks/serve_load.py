"""Load test of `genrec serve` on loopback: concurrent clients uploading a 640x480 face photo.

Starts `genrec serve` (gunicorn) in this repository on a free port with a
private upload folder, then:
1. one client, sequential requests: the median latency of a single image;
2. `--clients` concurrent clients sending `--requests` uploads in all.
Prints p50 / p95 latency, errors, throughput, and checks that the upload
folder is empty at the end. Needs the trained models (`dvc repro`).

Run: python benchmarks/serve_load.py [--clients 8 --requests 400 --workers 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def photo_640x480() -> bytes:
    """Two UTKFace faces on a 640x480 photo (JPEG)."""
    chips = sorted((ROOT / "data" / "raw" / "utkface" / "UTKFace").glob("*.jpg"))
    photo = np.full((480, 640, 3), 190, np.uint8)
    photo[140:340, 60:260] = cv2.imread(str(next(p for p in chips if p.name.startswith("35_0_0_"))))
    photo[140:340, 380:580] = cv2.imread(str(next(p for p in chips if p.name.startswith("35_1_0_"))))
    return cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "genrecload"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(url: str, body: bytes, content_type: str) -> tuple[float, bool]:
    start = time.perf_counter()
    try:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=60) as response:
            ok = response.status == 200 and b'"faces"' in response.read()
    except OSError:
        ok = False
    return time.perf_counter() - start, ok


def start_server(port: int, workers: int, uploads: Path) -> subprocess.Popen:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["serve"] = {**params["serve"], "upload_dir": str(uploads)}
    params_file = uploads.parent / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    env = {**os.environ, "GENREC_PARAMS": str(params_file), "MLFLOW_DISABLE_TELEMETRY": "true"}
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port),
                                "--workers", str(workers)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return process
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise SystemExit("genrec serve did not start: run `dvc repro` first")
            time.sleep(0.5)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single", type=int, default=30, help="sequential requests for the single-image median")
    args = parser.parse_args()

    body, content_type = multipart(photo_640x480())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        uploads = Path(scratch) / "uploads"
        server = start_server(port, args.workers, uploads)
        url = f"http://127.0.0.1:{port}/api/predict"
        try:
            for _ in range(3):  # warm every worker
                upload(url, body, content_type)
            single = [upload(url, body, content_type) for _ in range(args.single)]
            print(f"single client, {args.single} sequential 640x480 images: "
                  f"median {1000 * statistics.median(t for t, _ in single):.1f} ms")
            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(lambda _: upload(url, body, content_type), range(args.requests)))
            elapsed = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=30)
        latencies = [t for t, _ in results]
        errors = sum(not ok for _, ok in results)
        left = list(uploads.iterdir())
        print(f"{args.clients} clients, {args.requests} uploads, {args.workers} workers: errors {errors}, "
              f"p50 {1000 * percentile(latencies, 0.5):.1f} ms, p95 {1000 * percentile(latencies, 0.95):.1f} ms, "
              f"{args.requests / elapsed:.1f} requests/s")
        print(f"upload folder after the run: {len(left)} entries")
    return 0 if errors == 0 and not left else 1


if __name__ == "__main__":
    sys.exit(main())
