"""Test tool: the live page in a real browser, Debian's Chromium headless through its own
chromedriver (apt-get install chromium chromium-driver; .ci/run installs them). Nothing is
downloaded: Selenium is told where both are, and its driver manager stays offline."""

import os
import pathlib
import shutil
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".local-run" / "artifacts"  # screenshots the tests keep (ignored by git)
PAGE = "http://127.0.0.1:8088"


def chromium() -> webdriver.Chrome:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver, "the page tests need Debian's chromium and chromium-driver (apt-get install ...)"
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def rows_of(browser, account: str) -> list[str]:
    """The text of each alert row on the page for `account`, newest first."""
    texts = []
    for row in browser.find_elements(By.CSS_SELECTOR, f'tr.alert[data-account="{account}"]'):
        try:
            texts.append(row.text)
        except StaleElementReferenceException:  # the page replaced it meanwhile
            continue
    return texts


def poll(what: str, check, timeout: float, interval: float = 0.5, every=None, every_seconds: float = 5):
    """check() until it returns something truthy; every `every_seconds`, `every()` (a probe)."""
    deadline = time.monotonic() + timeout
    last_probe = 0.0
    while True:
        if every and time.monotonic() - last_probe >= every_seconds:
            every()
            last_probe = time.monotonic()
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def keep_screenshot(browser, name: str) -> pathlib.Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    browser.save_screenshot(str(path))
    print(f"\nscreenshot of the live page: {path}")
    return path
