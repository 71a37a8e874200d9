"""GEN_REC on models the pipeline trained: every route and error, uploads never kept, a real browser, gunicorn."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from pipeline.config import config_from_dict
from pipeline.errors import ModelError

from helpers import chromium_driver, free_port, trained_params

pytestmark = pytest.mark.slow


def serve_params(trained: Path, uploads: Path, **serve) -> dict:
    params = trained_params()
    params["serve"] = {
        **params["serve"],
        "upload_dir": str(uploads),
        "max_frames": 3,
        "gender_model": str(trained / "data/models/gender.joblib"),
        "fake_model": str(trained / "data/models/fake.joblib"),
        **serve,
    }
    return params


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def client(trained, uploads):
    from pipeline.serving.webapp import create_app

    app = create_app(config_from_dict(serve_params(trained, uploads, max_upload_mb=1)))
    return app.test_client()


@pytest.fixture(scope="module")
def files(raw, tmp_path_factory) -> dict[str, bytes]:
    """Real uploads: a 640x480 photo with two UTKFace faces, a photo without a face, a real video, bad files."""
    folder = tmp_path_factory.mktemp("files")
    chips = sorted((raw / "utkface" / "UTKFace").glob("*.jpg"))
    man = next(p for p in chips if p.name.startswith("35_0_0_"))
    woman = next(p for p in chips if p.name.startswith("35_1_0_"))
    photo = np.full((480, 640, 3), 190, np.uint8)
    photo[140:340, 60:260] = cv2.imread(str(man))
    photo[140:340, 380:580] = cv2.imread(str(woman))
    wall = cv2.resize(cv2.imread(str(sorted((raw / "lfw").rglob("*.jpg"))[0]))[:50, :50], (320, 240))
    clip = (
        raw / "videos" / "deepfake-samples" / "ffpp" / "original_sequences" / "youtube" / "c23" / "videos" / "004.mp4"
    )
    cv2.imwrite(str(folder / "photo.jpg"), photo)
    photo_bytes = (folder / "photo.jpg").read_bytes()
    return {
        "photo": photo_bytes,
        "wall": cv2.imencode(".png", wall)[1].tobytes(),
        "video": clip.read_bytes(),
        "text": b"just some text, not a picture\n",
        "truncated_image": photo_bytes[: len(photo_bytes) // 3],
        "truncated_video": clip.read_bytes()[:4000],
        "large": os.urandom(1024 * 1024 + 10),
        "empty": b"",
    }


def files_left(uploads: Path) -> list[Path]:
    """Everything of an upload under the upload root (each live process keeps an empty folder there)."""
    return [path for path in uploads.rglob("*") if not path.is_dir()]


def post(client, data: bytes, name: str = "upload.bin"):
    return client.post("/api/predict", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


@pytest.fixture(autouse=True)
def uploads_left_empty(request, uploads):
    """After every test of this module, no upload is left behind."""
    yield
    assert files_left(uploads) == []


def test_pages_and_health(client, trained):
    for path, words in [("/", "Try it now"), ("/method", "Eigenfaces"), ("/try", 'type="file"')]:
        page = client.get(path)
        assert page.status_code == 200 and words in page.get_data(as_text=True)
        assert "cdn" not in page.get_data(as_text=True).lower()
    for asset in ("/static/style.css", "/static/app.js"):
        assert client.get(asset).status_code == 200
    health = client.get("/health").get_json()
    assert health["status"] == "ok" and len(health["models"]["gender"]) == 64
    # What a person is told comes from the fake model's own record, written by grid-search@fake.
    record = json.loads((trained / "data" / "models" / "fake.json").read_text())
    method = client.get("/method").get_data(as_text=True)
    assert "What the fake score was validated on" in method
    side = record["spectrum"]["side"]
    assert record["spectrum"]["input"] == "patch" and f"the {side}x{side} pixel square at the centre" in method
    for source, figures in record["validation"]["heldout"].items():
        rate = figures.get("false_alarm_rate", figures.get("detection_rate"))
        assert f"<td>{source}</td><td>{figures['n']}</td><td>{100 * rate:.1f}%</td>" in method
    # The three answers with the recorded threshold, and the held-out figures under each named step.
    assert "The three answers" in method and f"{record['verdict']['threshold']:.3f}" in method
    steps = record["validation"]["robustness"]
    assert set(steps) == set(record["spectrum"]["robustness"]["steps"])
    for step in steps:
        assert f'<tr class="robustness-step"><td>{step}</td>' in method


def test_an_image_comes_back_with_every_face_boxed_and_described(client, files, uploads):
    # The client's name is hostile; it is never used as a path.
    response = post(client, files["photo"], name="../../../etc/passwd.jpg")
    assert response.status_code == 200
    result = response.get_json()
    assert result["kind"] == "image" and (result["width"], result["height"]) == (640, 480)
    assert len(result["faces"]) == 2
    left, right = sorted(result["faces"], key=lambda face: face["box"][0])
    assert left["box"][0] < 260 and right["box"][0] > 300
    for face in result["faces"]:
        assert face["gender"] in ("female", "male") and 50 <= face["confidence"] <= 100
        assert 0 <= face["fake_probability"] <= 1
    assert result["annotated"].startswith("data:image/jpeg;base64,")


def test_a_video_comes_back_frame_by_frame_with_a_summary(client, files):
    result = post(client, files["video"], name="clip.mp4").get_json()
    assert result["kind"] == "video" and len(result["frames"]) == 3  # serve.max_frames
    assert [frame["time_s"] for frame in result["frames"]] == pytest.approx([0, 1, 2], abs=0.05)
    summary = result["summary"]
    assert summary["frames"] == 3 and summary["gender"] in ("female", "male") and 50 <= summary["confidence"] <= 100
    assert all(frame["annotated"].startswith("data:image/jpeg") for frame in result["frames"])


@pytest.mark.parametrize(
    "name, status, words",
    [
        ("text", 415, "not an image or a video"),
        ("truncated_image", 422, "corrupt"),
        ("truncated_video", 422, "corrupt"),
        ("large", 413, "larger than 1 MB"),
        ("empty", 400, "empty"),
    ],
)
def test_bad_uploads_get_a_clear_error(client, files, name, status, words):
    response = post(client, files[name], name="photo.jpg")  # the extension does not decide the type
    assert response.status_code == status
    assert words in response.get_json()["error"]


def test_a_photo_without_a_face_says_so(client, files):
    result = post(client, files["wall"]).get_json()
    assert result["faces"] == [] and result["message"] == "no face found in this image"


def test_a_request_without_a_file_is_refused(client):
    response = client.post("/api/predict", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and "file" in response.get_json()["error"]


def test_an_upload_is_deleted_even_when_analysis_fails(trained, files, tmp_path, monkeypatch):
    from pipeline.serving.webapp import create_app
    from pipeline.serving.webapp.analysis import Analyzer

    uploads = tmp_path / "uploads"
    client = create_app(config_from_dict(serve_params(trained, uploads))).test_client()

    def explode(self, path):
        raise RuntimeError("boom")

    monkeypatch.setattr(Analyzer, "analyse", explode)
    response = post(client, files["photo"])
    assert response.status_code == 500 and response.get_json() == {"error": "the file could not be analysed"}
    assert files_left(uploads) == []


def test_without_trained_models_the_app_refuses_to_start(trained, tmp_path):
    from pipeline.serving.webapp import create_app

    params = serve_params(trained, tmp_path, gender_model=str(tmp_path / "none.joblib"))
    with pytest.raises(ModelError, match="dvc repro"):
        create_app(config_from_dict(params))


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    """`genrec serve` (gunicorn, 2 workers) on a loopback port, in the trained project."""
    uploads = tmp_path_factory.mktemp("served-uploads")
    port = free_port()
    (trained / "serve.yaml").write_text(yaml.safe_dump(serve_params(trained, uploads)))
    env = {**os.environ, "GENREC_PARAMS": str(trained / "serve.yaml"), "DVC_ROOT": str(trained)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=trained,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)
            break
        except OSError:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.time() < deadline, "genrec serve did not start"
            time.sleep(0.5)
    yield base, uploads
    process.terminate()
    process.wait(timeout=30)


def test_genrec_serve_answers_the_api_under_gunicorn(server, files):
    base, uploads = server
    boundary = "genrecboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + files["photo"]
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{base}/api/predict", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    result = json.load(urllib.request.urlopen(request, timeout=60))
    assert len(result["faces"]) == 2 and files_left(uploads) == []


def test_a_person_uploads_a_photo_in_a_real_browser_and_reads_the_result(server, raw, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    base, uploads = server
    photo = next((raw / "utkface" / "UTKFace").glob("35_1_0_*.jpg"))  # a face photo from the mirror
    browser = chromium_driver()
    try:
        browser.get(f"{base}/")
        browser.find_element(By.LINK_TEXT, "Try it now").click()
        WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.ID, "file")))
        browser.find_element(By.ID, "file").send_keys(str(photo))
        browser.find_element(By.ID, "submit").click()
        WebDriverWait(browser, 60).until(expected_conditions.visibility_of_element_located((By.ID, "result")))
        genders = [cell.text for cell in browser.find_elements(By.CLASS_NAME, "face-gender")]
        confidences = [cell.text for cell in browser.find_elements(By.CLASS_NAME, "face-confidence")]
        assert genders and set(genders) <= {"female", "male"}
        assert all(text.endswith("%") and 50 <= float(text[:-1]) <= 100 for text in confidences)
        image = browser.find_element(By.CSS_SELECTOR, "#frames img")
        assert image.get_attribute("src").startswith("data:image/jpeg;base64,")
        # The seed's picture per face: its spectrum over the real and generated classes' mean +/- std.
        pictures = browser.find_elements(By.CSS_SELECTOR, "td.face-spectrum svg.spectrum")
        assert len(pictures) == len(genders)
        for picture in pictures:
            assert picture.find_elements(By.CSS_SELECTOR, "polyline.this-face")
            assert picture.find_elements(By.CSS_SELECTOR, "polygon.band-real")
            assert picture.find_elements(By.CSS_SELECTOR, "polygon.band-fake")
        assert "validated on" in browser.find_element(By.CLASS_NAME, "note").text
    finally:
        browser.quit()
    assert files_left(uploads) == []


def stage_verdicts(trained: Path) -> dict[str, str]:
    """A held-out photo of each verdict the stage reached, by the rules recorded with the fake model: DCGAN
    faces it found traces on, real faces it found none on (the web app must say the same, test_served)."""
    import joblib
    import pandas as pd

    from pipeline.fake.verdict import VerdictRules

    record = json.loads((trained / "data" / "models" / "fake.json").read_text())
    model = joblib.load(trained / "data" / "models" / "fake.joblib")
    table = pd.read_parquet(trained / "data" / "features" / "spectrum.parquet")
    heldout = table[(table["split"] == "test") & (table["processing"] == "") & table["has_input"]]
    features = heldout[record["features"]].to_numpy()
    rules = VerdictRules.from_record(record, record["spectrum"]["side"])
    profiles = heldout[[c for c in record["features"] if c.startswith("s")]].to_numpy()
    verdicts = [rules.judge(p, f).kind for p, f in zip(model.predict_proba(features)[:, 1], profiles, strict=True)]
    found = {}
    for path, verdict in zip(heldout["path"], verdicts, strict=True):
        found.setdefault(verdict, str(trained / path))
    return found


def test_the_result_page_words_each_of_the_three_verdicts(server, trained, raw, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from pipeline.faces.detection import detect_faces

    base, uploads = server
    photos = stage_verdicts(trained)
    assert {"generator_traces", "no_known_traces"} <= set(photos), photos
    # Cannot tell: a face photo shrunk below the detector's 128 px patch, one the face detector still finds.
    crop = config_from_dict(trained_params()).crop
    for chip in sorted((raw / "utkface" / "UTKFace").glob("3*_0_*.jpg"))[:40]:
        small = cv2.resize(cv2.imread(str(chip)), (110, 110), interpolation=cv2.INTER_AREA)
        if len(detect_faces(small, crop)):
            cv2.imwrite(str(tmp_path / "small.png"), small)
            photos["cannot_tell"] = str(tmp_path / "small.png")
            break
    expected = {
        "generator_traces": ("traces of a generator found", "validated on"),
        "no_known_traces": ("no traces of the generators it was validated on", "does not show the face is real"),
        "cannot_tell": ("cannot tell", "smaller than the 128 x 128 px patch"),
    }
    browser = chromium_driver()
    try:
        for verdict, (headline, reason) in expected.items():
            browser.get(f"{base}/try")
            WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.ID, "file")))
            browser.find_element(By.ID, "file").send_keys(photos[verdict])
            browser.find_element(By.ID, "submit").click()
            WebDriverWait(browser, 60).until(expected_conditions.visibility_of_element_located((By.ID, "result")))
            cell = browser.find_elements(By.CSS_SELECTOR, "td.face-fake")[0]
            assert f"verdict-{verdict}" in cell.get_attribute("class"), (verdict, cell.text)
            shown = cell.find_element(By.CLASS_NAME, "fake-verdict").text
            assert shown.startswith(headline) and reason in cell.find_element(By.CLASS_NAME, "fake-reason").text
            # p(fake) is shown only beside a validated verdict, never as a bare "0.0%".
            assert ("%" in shown) == (verdict != "cannot_tell"), shown
            assert cell.text.strip() not in ("0.0%", "-")
    finally:
        browser.quit()
    assert files_left(uploads) == []


def warm_worker_state(params: dict) -> tuple[int | None, int]:
    """In a fresh process: build the app (which warms the models up) and report whether dlib's CNN ran and
    whether it was loaded."""
    import pipeline.faces.detection
    from pipeline.serving.webapp import create_app

    create_app(config_from_dict(params))
    return pipeline.faces.detection._mmod_ran_in, pipeline.faces.detection.load_mmod.cache_info().currsize


def test_the_warm_up_loads_the_cnn_but_never_runs_it(trained, uploads):
    """A worker that ran dlib's CNN would fork analysis children that hang in it (pipeline.faces.detection)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        ran_in, loaded = pool.submit(warm_worker_state, serve_params(trained, uploads)).result(timeout=120)
    assert ran_in is None and loaded == 1
