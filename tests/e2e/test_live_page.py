"""The live page (README "See the fraud"), in a real browser against the real workshop: alerts
appear as they commit, with what their score came from; a threshold set and a fraud confirmed
on the page change the account's next alerts; bad input gets a message and sends nothing; a
request from another origin is refused."""

import json
import time
import urllib.error
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from browser import PAGE, chromium, keep_screenshot, poll, rows_of
from conftest import THRESHOLD
from entities_pb2 import Transaction
from expectations import ALERT_TIMEOUT, CALM, RISKY, account, score, send_transaction


@pytest.fixture
def browser(workshop):
    opened = chromium()
    opened.get(PAGE)
    yield opened
    opened.quit()


def pay(producer, transaction: Transaction, name: str) -> None:
    send_transaction(producer, account(f"{name}-{time.monotonic_ns()}"), transaction)
    producer.flush()


def act(browser, holder: str, button: str, threshold: str | None = None) -> str:
    field = browser.find_element(By.ID, "account")
    field.clear()
    field.send_keys(holder)
    if threshold is not None:
        box = browser.find_element(By.ID, "threshold")
        box.clear()
        box.send_keys(threshold)
    browser.find_element(By.ID, button).click()
    return poll(
        "the page's answer", lambda: (m := browser.find_element(By.ID, "message").text) != "sending …" and m, 30
    )


def test_alerts_appear_and_the_page_changes_an_accounts_next_alerts(workshop, producer, browser):
    holder = account("on-the-page")
    risky = Transaction(account=holder, merchant=RISKY, amount=2000)
    assert score(risky) > THRESHOLD
    started = time.monotonic()
    pay(producer, risky, "page-first")
    [first] = poll("the alert on the page", lambda: rows_of(browser, holder), ALERT_TIMEOUT)
    print(f"\nthe alert on the page {time.monotonic() - started:.1f} s after the transaction")
    assert f"{score(risky)} above {THRESHOLD} (the default threshold)" in first and "0 confirmed fraud(s)" in first

    # Bad input: a message on the page, nothing sent.
    assert act(browser, holder, "set-threshold", "101") == "a threshold is 0 (the default applies) to 100, not 101"
    assert "has not alerted here" in act(browser, "0x0NOTSEEN", "confirm")

    # A threshold of its own: a calm payment (below the default) alerts against it.
    calm = Transaction(account=holder, merchant=CALM)
    assert 10 < score(calm) <= THRESHOLD
    assert act(browser, holder, "set-threshold", "10") == f"{holder}: threshold 10 sent"
    poll(
        "an alert against threshold 10",
        lambda: any("above 10 (its own threshold)" in row for row in rows_of(browser, holder)),
        ALERT_TIMEOUT,
        every=lambda: pay(producer, calm, "page-calm"),
    )

    # A confirmed fraud: the next alerts count it, and score 20 points higher.
    assert act(browser, holder, "confirm") == f"{holder}: a confirmed fraud sent: its count goes up by one"
    poll(
        "an alert with the confirmed fraud",
        lambda: any(
            f"{score(calm, fraud_count=1)} above 10" in row and "1 confirmed fraud(s)" in row
            for row in rows_of(browser, holder)
        ),
        ALERT_TIMEOUT,
        every=lambda: pay(producer, calm, "page-counted"),
    )
    assert browser.find_element(By.ID, "job-state").text == "RUNNING"
    assert browser.find_element(By.ID, "tx-rate").text not in ("…", "Kafka down")
    keep_screenshot(browser, "live-page.png")


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://elsewhere.example"}], ids=["no token", "another site"])
def test_a_request_from_another_origin_is_refused(workshop, browser, headers):
    token = browser.find_element(By.CSS_SELECTOR, 'meta[name="workshop-token"]').get_attribute("content")
    if headers:  # the right token even, from another site's page
        headers["X-Workshop-Token"] = token
    request = urllib.request.Request(
        f"{PAGE}/threshold",
        data=json.dumps({"account": "any", "threshold": 5}).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
