"""`make ui` in a real browser: MLflow opens on genrec's training runs, not on MLflow 3's GenAI overview."""

from __future__ import annotations

import pytest

from pipeline.tracking.services import STOP_TIMEOUT_S, start_ui

from helpers import chromium_driver, free_port

pytestmark = pytest.mark.slow


def test_make_ui_opens_on_the_page_of_genrecs_runs(tmp_path):
    import mlflow
    from selenium.webdriver.support.ui import WebDriverWait

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(store)
    experiment = client.create_experiment("genrec")
    run = client.create_run(experiment, run_name="grid-search@gender")
    client.log_metric(run.info.run_id, "test.accuracy", 0.9)
    client.set_terminated(run.info.run_id)

    ui, url = start_ui(free_port(), store)
    browser = chromium_driver()
    try:
        assert url.endswith(f"/#/experiments/{experiment}/runs")
        browser.get(url)
        # The runs table lists the stage's run by name; the GenAI overview would show traces instead.
        WebDriverWait(browser, 60).until(lambda b: "grid-search@gender" in b.find_element("tag name", "body").text)
        assert f"/#/experiments/{experiment}/runs" in browser.current_url
    finally:
        browser.quit()
        ui.terminate()
        ui.wait(timeout=STOP_TIMEOUT_S["mlflow"])
