"""Checks of the rolling-window exercise: the counter counts confirmed frauds of the last
FRAUD_WINDOW only. Each drives the counter, and the timers it sets, on a virtual clock."""

from datetime import timedelta

from checking import Check, worker
from contract import COUNTER
from entities_pb2 import ConfirmFraud, ReportedFraud
from harness import Flow, typed

ACCOUNT = "0x00C0FFEE"
DAY = timedelta(days=1)


def counter_flow(window: timedelta = 30 * DAY) -> Flow:
    return Flow(worker(fraud_window=window).functions)


def confirm(flow: Flow) -> None:
    flow.ingress(COUNTER, ACCOUNT, typed(ConfirmFraud(account=ACCOUNT)))


def count(flow: Flow) -> int:
    stored = flow.instance(COUNTER, ACCOUNT).value("fraud_count", ReportedFraud)
    return 0 if stored is None else stored.count


async def a_confirmation_counts_at_once():
    flow = counter_flow()
    confirm(flow)
    await flow.run()
    assert count(flow) == 1, f"the count after one confirmation is {count(flow)}, not 1"


async def a_confirmation_leaves_the_count_after_the_window():
    flow = counter_flow()
    confirm(flow)
    await flow.advance(30 * DAY - timedelta(seconds=1))
    assert count(flow) == 1, f"a second before 30 days the count is {count(flow)}, not 1"
    await flow.advance(timedelta(seconds=1))
    assert count(flow) == 0, f"30 days after the confirmation the count is still {count(flow)}"


async def each_confirmation_leaves_on_its_own():
    flow = counter_flow()
    confirm(flow)
    await flow.advance(10 * DAY)
    confirm(flow)
    await flow.advance(21 * DAY)  # day 31: the first has left, the second has not
    assert count(flow) == 1, f"on day 31 (confirmed on days 0 and 10) the count is {count(flow)}, not 1"
    await flow.advance(10 * DAY)  # day 41: both have left
    assert count(flow) == 0, f"on day 41 the count is {count(flow)}, not 0"


async def the_window_is_fraud_window():
    flow = counter_flow(window=timedelta(minutes=2))
    confirm(flow)
    await flow.advance(timedelta(minutes=2))
    assert count(flow) == 0, f"with FRAUD_WINDOW=2m the count is {count(flow)} two minutes after the confirmation"


async def no_state_is_kept_for_an_account_without_frauds():
    flow = counter_flow()
    confirm(flow)
    await flow.advance(31 * DAY)
    stored = flow.instance(COUNTER, ACCOUNT).state.get("fraud_count")
    assert stored is None or not stored.has_value, "a count of 0 is still stored"


CHECKS = [
    Check(
        "a confirmed fraud counts at once",
        "fraud_count should add 1 to the stored ReportedFraud for each ConfirmFraud.",
        a_confirmation_counts_at_once,
    ),
    Check(
        "a confirmation leaves the count when FRAUD_WINDOW (30 days) has passed",
        "After counting a ConfirmFraud, send the counter a message to itself that arrives `window` later: "
        "send_after(context, window, COUNTER, context.address.id, ExpireFraud()). StateFun keeps it durably. "
        "Then take ExpireFraud in fraud_count (add it to parse(...) and give it a case) and count one down.",
        a_confirmation_leaves_the_count_after_the_window,
    ),
    Check(
        "each confirmation leaves on its own, 30 days after it arrived",
        "One ExpireFraud per confirmation, each counting down by one: not a reset of the whole count.",
        each_confirmation_leaves_on_its_own,
    ),
    Check(
        "the window is FRAUD_WINDOW, whatever it is set to",
        "Use the `window` argument fraud_count is given (bind_functions passes settings.fraud_window), "
        "not a fixed 30 days: FRAUD_WINDOW=2m lets you watch it work.",
        the_window_is_fraud_window,
    ),
    Check(
        "an account whose frauds have all left keeps no state",
        "When the count comes down to 0, delete the state (del context.storage.fraud_count): otherwise "
        "every account that ever had a fraud keeps a state forever.",
        no_state_is_kept_for_an_account_without_frauds,
    ),
]
