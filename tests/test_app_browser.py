"""``kvt app`` in a real browser: the app started as a user starts it, on a free 127.0.0.1 port, driven by headless
Chromium through Selenium (Debian's ``chromium`` and ``chromium-driver``; nothing is downloaded at run time).

It loads the Data page, trains a few epochs from the Train page (the run folder appears), opens the other pages,
and saves a screenshot of each. With ``KVT_APP_SCREENSHOTS=DIR`` the screenshots go to DIR and the Compare page
runs a small benchmark first (how docs/images/app-*.png were made); otherwise they go to the test's folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
PAGES = {"data": "Provenance (kvt data info)", "train": "Hyper-parameters of adamod", "results": "Summary (as kvt train",
         "compare-optimizers": "kvt bench vt in widgets", "use": "Export (kvt export)"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until(condition, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
            return answer.read() == b"ok"
    except OSError:
        return False


@pytest.fixture
def app_server(tmp_path):
    """``kvt app --port P`` started in ``tmp_path`` as a subprocess; (port, its folder, its log)."""
    port = _free_port()
    log = (tmp_path / "app.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "kvt.cli", "app", "--port", str(port)], cwd=tmp_path,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until(lambda: _healthy(port) or server.poll() is not None, 90, "the app to listen")
        assert server.poll() is None, (tmp_path / "app.log").read_text()
        yield port, tmp_path
        server.terminate()  # kvt app passes it on: the server and its worker end too
        assert server.wait(60) == 0  # Streamlit stops cleanly on it
        _wait_until(lambda: not _healthy(port), 30, "the server to stop")
    finally:
        if server.poll() is None:
            server.kill()
        try:
            os.killpg(server.pid, signal.SIGKILL)  # whatever the test's failure left of the app's processes
        except ProcessLookupError:
            pass
        log.close()


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("no headless browser: Debian's chromium and chromium-driver are not installed "
                    "(apt-get install chromium chromium-driver; .ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,2200", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)  # no Selenium Manager
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver) -> str:
    return driver.find_element("tag name", "body").text


def _open(driver, port: int, page: str) -> None:
    driver.get(f"http://127.0.0.1:{port}/?page={page}")
    _wait_until(lambda: PAGES[page] in _text(driver), 90, f"the {page} page")
    _wait_until(lambda: not driver.find_elements("css selector", "[data-testid='stStatusWidget']"), 60,
                f"the {page} page to finish running")
    assert not driver.find_elements("css selector", "[data-testid='stException']"), _text(driver)


def _type(driver, label: str, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    found = _wait_until(lambda: driver.find_elements("css selector", f"input[aria-label='{label}']"), 60, label)
    field = found[0]
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(text, Keys.ENTER)


def _click(driver, label: str) -> None:
    driver.find_element("xpath", f"//button[normalize-space(.)='{label}']").click()


def _shot(driver, folder: Path, page: str) -> Path:
    from selenium.webdriver.common.action_chains import ActionChains

    path = folder / f"app-{page}.png"
    ActionChains(driver).move_to_element(driver.find_element("tag name", "h1")).perform()  # no tooltip
    time.sleep(0.5)  # the last figures' fade-in
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    return path


def test_the_app_trains_from_a_real_browser(app_server, browser):
    port, folder = app_server
    shots = Path(os.environ.get("KVT_APP_SCREENSHOTS") or folder)
    shots.mkdir(parents=True, exist_ok=True)
    _open(browser, port, "data")
    _wait_until(lambda: browser.find_elements("css selector", "[data-testid='stImage'] img"), 60, "k(T) of O2-Ar")
    assert "O2-Ar: 525 rows" in _text(browser)
    _shot(browser, shots, "data")

    _open(browser, port, "train")
    epochs = "60" if os.environ.get("KVT_APP_SCREENSHOTS") else "3"  # the README's loss curve has some length
    _type(browser, "Epochs", epochs)
    _wait_until(lambda: browser.find_element("css selector", "input[aria-label='Epochs']").get_attribute("value")
                == epochs, 30, "the epochs to be taken")
    _click(browser, "Train")
    _wait_until(lambda: "wrote runs/O2-Ar-adamod-" in _text(browser), 240, "the training to end")
    runs = list((folder / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "weights.json").is_file()
    assert f"run: runs/{runs[0].name}  (mode study, optimizer adamod)" in _text(browser)
    _shot(browser, shots, "train")

    if os.environ.get("KVT_APP_SCREENSHOTS"):  # the README's Compare page shows a benchmark
        _open(browser, port, "compare-optimizers")
        _click(browser, "Run the benchmark")
        _wait_until(lambda: "report: bench/vt-" in _text(browser), 600, "the benchmark to end")
    def images():
        return len(browser.find_elements("css selector", "[data-testid='stImage'] img"))

    for page in ("results", "compare-optimizers", "use"):
        _open(browser, port, page)
        if page == "results":  # the run just trained, its summary and figures
            _wait_until(lambda: f"run: runs/{runs[0].name}" in _text(browser), 60, "the run's summary")
            _wait_until(lambda: images() >= 2, 60, "the run's figures")
            if os.environ.get("KVT_APP_SCREENSHOTS"):  # the README's Results page shows the error map too
                shown = images()
                _click(browser, "Evaluate")
                _wait_until(lambda: images() > shown, 120, "the error map")
        if page == "use" and os.environ.get("KVT_APP_SCREENSHOTS"):
            for box in browser.find_elements("xpath", "//label[normalize-space(.)='--allow-nonphysical']"):
                box.click()  # a study-mode network of 60 epochs gives k <= 0 somewhere: print and write them
                time.sleep(1)
            _click(browser, "Predict")
            _wait_until(lambda: browser.find_elements("css selector", "[data-testid='stDataFrame']")
                        or "Error: " in _text(browser), 60, "the predictions")
            _click(browser, "Make the file")
            _wait_until(lambda: "Download " in _text(browser) or "Error: " in _text(browser), 60, "the file")
        _shot(browser, shots, page)
