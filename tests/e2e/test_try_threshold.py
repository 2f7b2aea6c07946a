"""`simulator.py threshold VALUE` (README "Try a custom threshold"): the account that paid last
gets the threshold, and the payments the command then sends are scored against it."""

import re
import subprocess
import sys
import time

from conftest import THRESHOLD
from entities_pb2 import Alert, Transaction
from expectations import ALERT_TIMEOUT, account, merchant_scoring, score, send_transaction
from local_workshop import ROOT

SIMULATOR = [sys.executable, str(ROOT / "simulator" / "simulator.py"), "--bootstrap", "127.0.0.1:9092"]
PAYMENT = re.compile(r"^  paid +(\d+) USD at (\S+) +(no alert|alert: score (\d+) above threshold (\d+))$", re.M)


def test_the_account_that_paid_last_gets_the_threshold_and_its_payments_show_it(workshop, producer, alerts):
    payer = account("paid-last")
    send_transaction(
        producer, account("paid-last-tx"), Transaction(account=payer, merchant=merchant_scoring(0, 100), amount=9)
    )
    producer.flush()

    tried = subprocess.run([*SIMULATOR, "threshold", "3"], capture_output=True, text=True, timeout=120)
    print(tried.stdout, tried.stderr)
    assert tried.returncode == 0
    assert f"account {payer} paid last (9 USD at " in tried.stdout
    payments = PAYMENT.findall(tried.stdout)
    assert len(payments) == 5
    for amount, merchant, _, alerted_score, applied in payments:
        # The model and the merchant scores are deterministic: each verdict is the right one.
        expected = score(Transaction(account=payer, merchant=merchant, amount=int(amount)))
        if expected > 3:
            assert (int(alerted_score), int(applied)) == (expected, 3), tried.stdout
        else:
            assert not alerted_score, tried.stdout
    assert (
        f"{sum(score(Transaction(merchant=m, amount=int(a))) > 3 for a, m, *_ in payments)} of 5 payments alerted"
        in tried.stdout
    )

    # 0 removes it: the default threshold applies again, which the account's next alert names.
    removed = subprocess.run(
        [*SIMULATOR, "threshold", "0", "--account", payer, "--payments", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert removed.returncode == 0 and "its custom threshold is removed: the default applies" in removed.stdout
    risky = Transaction(account=payer, merchant=merchant_scoring(95, 100), amount=4000)
    assert score(risky) > THRESHOLD
    probes: list[str] = []

    def default_applies(records) -> bool:
        if len(probes) * 5 < time.monotonic() - started:  # a probe every 5 s until one shows it
            probes.append(account(f"paid-last-probe-{len(probes)}"))
            send_transaction(producer, probes[-1], risky)
            producer.flush()
        return any(
            Alert.FromString(r.value).threshold == THRESHOLD
            for r in records
            if Alert.FromString(r.value).transaction_id in probes
        )

    started = time.monotonic()
    alerts.read_until(f"the default threshold {THRESHOLD} for {payer}", default_applies, ALERT_TIMEOUT)
