from entities_pb2 import Alert, Transaction
from simulator import RecentIds, alert_line, parse_arguments
from traffic import Traffic


def test_a_seed_replays_the_same_traffic():
    first, second = Traffic(seed=7), Traffic(seed=7)
    assert [first.transaction(1.0) for _ in range(50)] == [second.transaction(1.0) for _ in range(50)]


def test_transaction_ids_are_fresh():
    traffic = Traffic(seed=1)
    ids = [traffic.transaction(0)[0] for _ in range(10_000)]
    assert len(set(ids)) == len(ids)


def test_transactions_are_complete_and_plausible():
    traffic = Traffic(seed=3)
    for _ in range(1000):
        _, transaction = traffic.transaction(1_700_000_000.5)
        assert transaction.account in traffic.accounts and transaction.merchant in traffic.merchants
        assert 1 <= transaction.amount <= 5000
        assert transaction.timestamp.ToNanoseconds() == 1_700_000_000_500_000_000


def test_confirmations_and_thresholds_land_on_accounts_that_transact():
    traffic = Traffic(seed=5, accounts=10_000)
    recent = {traffic.transaction(0)[1].account for _ in range(50)}
    assert {traffic.confirmation().account for _ in range(100)} <= recent
    thresholds = [traffic.custom_threshold() for _ in range(100)]
    assert {t.account for t in thresholds} <= recent
    assert all(20 <= t.threshold <= 80 for t in thresholds)


def test_the_alert_line_is_the_workshops():
    alert = Alert(transaction_id="t", transaction=Transaction(account="0x00F3CD51", merchant="Hypergrid", amount=36))
    assert alert_line(alert) == "Suspected Fraud for account id 0x00F3CD51 at Hypergrid for 36 USD"


def test_bounded_mode_arguments():
    args = parse_arguments(["produce", "--count", "500", "--rate", "250", "--seed", "9"])
    assert (args.command, args.count, args.rate, args.seed) == ("produce", 500, 250.0, 9)


def test_the_alert_printer_remembers_the_last_ids_to_drop_repeats():
    printed = RecentIds(limit=3)
    assert [printed.first_time(id_) for id_ in ["a", "b", "a", "c", "d"]] == [True, True, False, True, True]
    # "b" was the oldest of four: forgotten; "a" was seen again after it, so it stays.
    assert printed.first_time("a") is False
    assert printed.first_time("b") is True
