"""The fraud-detection functions of the StateFun workshop.

Every transaction goes through five functions:

    transactions topic ──> transaction-manager ──QueryFraud──────────> counter    (per account)
                                   │           ──QueryMerchantScore──> merchant   (per merchant)
                                   │           ──QueryThreshold──────> threshold  (per account)
                                   │  (the three answers arrive, in any order)
                                   │           ──FeatureVector───────> model      (per account)
                                   │  (FraudScore above the threshold)
                                   └──> Alert on the alerts topic

This file is the one to read and to change: the functions, top to bottom, then
`bind_functions`, which gives each its typename, its state and the settings it
needs, and `main`, which starts python-worker. The plumbing lives beside it:
messaging.py (reading, sending, dead letters), config.py (settings), server.py
(the HTTP endpoint), merchant_client.py (the merchant-score service) and
contract.py (the names shared with module.yaml and the simulator).

Every function wears @dead_letter_on_failure (messaging.py): a message it fails on
goes to the dead-letters topic instead of stalling the pipeline, and each invocation
is timed for GET /metrics. python-worker refuses to start with a function without it.

Run it with `python main.py`; the runtime calls it at http://python-worker:8000/statefun.
"""

import logging
from datetime import timedelta
from functools import partial

from statefun import Context, Message, StatefulFunctions, ValueSpec

import config
import server
from contract import ALERTS_TOPIC, COUNTER, MERCHANT, MODEL, THRESHOLD, TRANSACTION_MANAGER, type_of
from entities_pb2 import (
    Alert,
    ConfirmFraud,
    CustomThreshold,
    ExpireFraud,
    FeatureVector,
    FraudScore,
    MerchantScore,
    QueryFraud,
    QueryMerchantScore,
    QueryThreshold,
    ReportedFraud,
    Transaction,
)
from merchant_client import MerchantScoreClient, MerchantScoreUnavailable
from messaging import BadMessage, address_of, dead_letter_on_failure, parse, reply, send, send_after, send_to_kafka

log = logging.getLogger("functions")


# ---------------------------------------------------------------------------
# The transaction manager: one instance per transaction id.
# ---------------------------------------------------------------------------

# How long a finished transaction's score is remembered, so that the same record delivered
# again is not scored, nor alerted, twice. A producer retries within its delivery timeout
# (Kafka's default: 2 minutes), so 10 minutes covers it with room. The markers live on the
# TaskManager's heap (flink-conf.yaml): one per transaction of the window, so a longer
# window costs memory and checkpoint time at high rates.
DUPLICATE_WINDOW = timedelta(minutes=10)

TRANSACTION_MANAGER_STATE = [
    ValueSpec(name="transaction", type=type_of(Transaction)),
    ValueSpec(name="fraud_count", type=type_of(ReportedFraud)),
    ValueSpec(name="merchant_score", type=type_of(MerchantScore)),
    ValueSpec(name="threshold", type=type_of(CustomThreshold)),
    ValueSpec(name="scored", type=type_of(FraudScore), expire_after_write=DUPLICATE_WINDOW),
]


@dead_letter_on_failure
def transaction_manager(context: Context, message: Message, *, default_threshold: int):
    """Scores one transaction.

    Takes: Transaction (from the transactions topic); ReportedFraud, MerchantScore and
    CustomThreshold (the answers to its queries); FraudScore (the model's answer).
    Sends: QueryFraud to the counter, QueryMerchantScore to the merchant, QueryThreshold
    to the threshold function, FeatureVector to the model; an Alert to the alerts topic.
    """
    match parse(message, Transaction, ReportedFraud, MerchantScore, CustomThreshold, FraudScore):
        case Transaction() as transaction:
            start_scoring(context, transaction)
        case ReportedFraud() as fraud_count:
            require_transaction(context).fraud_count = fraud_count
            send_features_when_complete(context)
        case MerchantScore() as merchant_score:
            require_transaction(context).merchant_score = merchant_score
            send_features_when_complete(context)
        case CustomThreshold() as custom_threshold:
            require_transaction(context).threshold = custom_threshold
            send_features_when_complete(context)
        case FraudScore() as fraud_score:
            require_transaction(context)
            decide(context, fraud_score, default_threshold)


# Names become function ids and travel in every alert: keep them to a sane size.
MAX_NAME_LENGTH = 256


def start_scoring(context: Context, transaction: Transaction):
    if not transaction.account or not transaction.merchant:
        raise BadMessage("a transaction needs an account and a merchant")
    if len(transaction.account) > MAX_NAME_LENGTH or len(transaction.merchant) > MAX_NAME_LENGTH:
        raise BadMessage(f"an account or merchant name longer than {MAX_NAME_LENGTH} characters")
    if transaction.amount < 0:
        raise BadMessage(f"a transaction cannot have a negative amount ({transaction.amount})")
    if context.storage.transaction is not None:
        raise BadMessage("a duplicate of a transaction that is still being scored")
    if context.storage.scored is not None:
        minutes = DUPLICATE_WINDOW / timedelta(minutes=1)
        raise BadMessage(f"a duplicate of a transaction scored less than {minutes:g} minutes ago")
    context.storage.transaction = transaction
    send(context, COUNTER, transaction.account, QueryFraud())
    send(context, MERCHANT, transaction.merchant, QueryMerchantScore())
    send(context, THRESHOLD, transaction.account, QueryThreshold())


def require_transaction(context: Context):
    """The storage, when this instance is scoring a transaction; else the message is stray."""
    if context.storage.transaction is None:
        raise BadMessage("no transaction is being scored here")
    return context.storage


def send_features_when_complete(context: Context):
    storage = context.storage
    if storage.fraud_count is None or storage.merchant_score is None or storage.threshold is None:
        return  # still waiting for an answer
    features = FeatureVector(
        fraud_count=storage.fraud_count.count,
        merchant_score=storage.merchant_score.score,
        amount=storage.transaction.amount,
    )
    send(context, MODEL, storage.transaction.account, features)


def decide(context: Context, fraud_score: FraudScore, default_threshold: int):
    transaction = context.storage.transaction
    custom = context.storage.threshold
    # 0 means the account has not set a threshold of its own.
    threshold = custom.threshold if custom is not None and custom.threshold > 0 else default_threshold
    if fraud_score.score > threshold:
        # DEBUG: under load this would be a line per transaction; the simulator prints the alerts.
        log.debug(
            "%s: ALERT score %d > threshold %d: account %s at %s for %d USD",
            address_of(context),
            fraud_score.score,
            threshold,
            transaction.account,
            transaction.merchant,
            transaction.amount,
        )
        alert = Alert(
            transaction_id=context.address.id,
            transaction=transaction,
            score=fraud_score.score,
            threshold=threshold,
            # What the score came from, for whoever reads the alert (the live page shows it).
            fraud_count=context.storage.fraud_count.count,
            merchant_score=context.storage.merchant_score.score,
            merchant_score_fallback=context.storage.merchant_score.is_fallback,
            custom_threshold=threshold != default_threshold,
        )
        send_to_kafka(context, ALERTS_TOPIC, key=transaction.account, value=alert)
    # The transaction is done either way: keep only its score, to recognise a duplicate.
    context.storage.scored = fraud_score
    del context.storage.transaction
    del context.storage.fraud_count
    del context.storage.merchant_score
    del context.storage.threshold


# ---------------------------------------------------------------------------
# The fraud counter: confirmed frauds of one account within a rolling window.
# ---------------------------------------------------------------------------

COUNTER_STATE = [ValueSpec(name="fraud_count", type=type_of(ReportedFraud))]


@dead_letter_on_failure
def fraud_count(context: Context, message: Message, *, window: timedelta):
    """Counts an account's confirmed frauds of the last `window` (FRAUD_WINDOW).

    Takes: ConfirmFraud (from the confirmed topic); QueryFraud (from the transaction
    manager); ExpireFraud (its own timer, `window` after each confirmation).
    Sends: ReportedFraud to whoever asked; ExpireFraud to itself, delayed.
    """
    match parse(message, ConfirmFraud, QueryFraud, ExpireFraud):
        case ConfirmFraud() as confirmation:
            if confirmation.account != context.address.id:
                raise BadMessage(
                    f"a confirmation for account {confirmation.account!r} was keyed {context.address.id!r}"
                )
            count = context.storage.fraud_count or ReportedFraud()
            count.count += 1
            context.storage.fraud_count = count
            log.info("%s: fraud confirmed, %d in the window", address_of(context), count.count)
            # Each confirmation leaves the window on its own: a durable timer
            # that StateFun keeps in its state, so it fires even across restarts.
            send_after(context, window, COUNTER, context.address.id, ExpireFraud())
        case QueryFraud():
            reply(context, context.storage.fraud_count or ReportedFraud(count=0))
        case ExpireFraud():
            count = context.storage.fraud_count or ReportedFraud()
            count.count = max(0, count.count - 1)  # never below zero
            if count.count == 0:
                del context.storage.fraud_count  # no state is kept for zero
            else:
                # The stored message itself, changed: fields a newer version added stay in it.
                context.storage.fraud_count = count
            log.info("%s: a fraud left the window, %d in it", address_of(context), count.count)


# ---------------------------------------------------------------------------
# The merchant function: a merchant's risk score from a third-party service.
# ---------------------------------------------------------------------------

# The score is cached for an hour; StateFun's state TTL drops it after.
MERCHANT_STATE = [ValueSpec(name="merchant_score", type=type_of(MerchantScore), expire_after_write=timedelta(hours=1))]

# When the service stays down, the transaction is scored anyway, with the
# middle of the range: a merchant we know nothing about is neither trusted
# nor condemned. The fallback is not cached, so the next query asks again.
FALLBACK_MERCHANT_SCORE = 50


@dead_letter_on_failure
async def merchant(context: Context, message: Message, *, merchant_scores: MerchantScoreClient):
    """A merchant's risk score, asked of the merchant-score service once an hour at most.

    Takes: QueryMerchantScore (from the transaction manager).
    Sends: MerchantScore to whoever asked.
    """
    parse(message, QueryMerchantScore)
    score = context.storage.merchant_score
    if score is None:
        score = await look_up_merchant_score(context, merchant_scores)
        if not score.is_fallback:
            context.storage.merchant_score = score
    reply(context, score)


async def look_up_merchant_score(context: Context, merchant_scores: MerchantScoreClient) -> MerchantScore:
    try:
        return MerchantScore(score=await merchant_scores.score(context.address.id))
    except MerchantScoreUnavailable as problem:
        log.warning("%s: using the fallback score %d: %s", address_of(context), FALLBACK_MERCHANT_SCORE, problem)
        return MerchantScore(score=FALLBACK_MERCHANT_SCORE, is_fallback=True)


# ---------------------------------------------------------------------------
# The threshold function: an account's own alert threshold, if it set one.
# ---------------------------------------------------------------------------

THRESHOLD_STATE = [ValueSpec(name="threshold", type=type_of(CustomThreshold))]


@dead_letter_on_failure
def threshold(context: Context, message: Message):
    """An account's own alert threshold; 0 stands for the default (FRAUD_THRESHOLD).

    Takes: CustomThreshold (from the thresholds topic); QueryThreshold (from the
    transaction manager).
    Sends: CustomThreshold to whoever asked.
    """
    account = context.address.id
    match parse(message, CustomThreshold, QueryThreshold):
        case CustomThreshold() as update:
            if update.account != account:
                raise BadMessage(f"a threshold for account {update.account!r} was keyed {account!r}")
            if not 0 <= update.threshold <= 100:
                raise BadMessage(f"a threshold must be from 0 (the default) to 100, not {update.threshold}")
            if update.threshold == 0:
                del context.storage.threshold  # back to the default
            else:
                context.storage.threshold = update  # as sent, with any field a newer producer added
            log.info("%s: threshold set to %s", address_of(context), update.threshold or "the default")
        case QueryThreshold():
            reply(context, context.storage.threshold or CustomThreshold(threshold=0, account=account))


# ---------------------------------------------------------------------------
# The model: scores a feature vector from 0 (harmless) to 100 (fraud).
# ---------------------------------------------------------------------------


@dead_letter_on_failure
def model(context: Context, message: Message):
    """Takes: FeatureVector (from the transaction manager). Sends: FraudScore back."""
    reply(context, FraudScore(score=fraud_score(parse(message, FeatureVector))))


def fraud_score(features: FeatureVector) -> int:
    """A deliberately simple, deterministic stand-in for a trained model.

    - fraud history: 20 points per confirmed fraud in the window, at most 60;
    - merchant risk: the merchant's score (0-100) weighs 50 points;
    - amount: up to 30 points, half of them at 500 USD.
    The sum is capped at 100.
    """
    if features.fraud_count < 0 or not 0 <= features.merchant_score <= 100 or features.amount < 0:
        raise BadMessage(f"features out of range: {features}".replace("\n", " "))
    history = min(60, 20 * features.fraud_count)
    merchant_risk = 50 * features.merchant_score / 100
    amount_risk = 30 * features.amount / (features.amount + 500)
    return min(100, round(history + merchant_risk + amount_risk))


# ---------------------------------------------------------------------------
# Wiring: each function with its typename, its state and what it needs.
# ---------------------------------------------------------------------------


def bind_functions(
    functions: StatefulFunctions, settings: config.Settings, merchant_scores: MerchantScoreClient
) -> StatefulFunctions:
    functions.register(
        TRANSACTION_MANAGER,
        partial(transaction_manager, default_threshold=settings.fraud_threshold),
        TRANSACTION_MANAGER_STATE,
    )
    functions.register(COUNTER, partial(fraud_count, window=settings.fraud_window), COUNTER_STATE)
    functions.register(MERCHANT, partial(merchant, merchant_scores=merchant_scores), MERCHANT_STATE)
    functions.register(THRESHOLD, threshold, THRESHOLD_STATE)
    functions.register(MODEL, model)
    return functions


def main() -> None:
    # A bad FRAUD_THRESHOLD, FRAUD_WINDOW or MERCHANT_SERVICE_URL stops the worker
    # here, before it serves anything, with a message naming it.
    settings = config.load()
    merchant_scores = MerchantScoreClient(settings.merchant_service_url)
    functions = bind_functions(StatefulFunctions(), settings, merchant_scores)
    server.run(functions, settings, on_shutdown=[merchant_scores.close])


if __name__ == "__main__":
    main()
