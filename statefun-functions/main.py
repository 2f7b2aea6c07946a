"""The fraud-detection functions of the StateFun workshop.

Every transaction goes through five functions:

    transactions topic ──> transaction-manager ──QueryFraud──────────> counter    (per account)
                                   │           ──QueryMerchantScore──> merchant   (per merchant)
                                   │           ──QueryThreshold──────> threshold  (per account)
                                   │  (the three answers arrive, in any order)
                                   │           ──FeatureVector───────> model      (per account)
                                   │  (FraudScore above the threshold)
                                   └──> Alert on the alerts topic

This file is the one to read and to change: the functions, top to bottom.
The plumbing lives beside it: config.py (settings), server.py (the HTTP
endpoint), merchant_client.py (the merchant-score service), dead_letters.py
and messaging.py (what happens to a message a function cannot use).

Run it with `python main.py`; the runtime calls it at http://python-worker:8000/statefun.
"""

import logging
from datetime import timedelta

from statefun import Context, Message, StatefulFunctions, ValueSpec, kafka_egress_message

import config
import server
from dead_letters import BadMessage, address_of, dead_letter_on_failure
from entities_pb2 import (
    Alert,
    CustomThreshold,
    ExpireFraud,
    FeatureVector,
    FraudScore,
    MerchantScore,
    QueryFraud,
    QueryMerchantScore,
    QueryThreshold,
    ReportedFraud,
)
from merchant_client import MerchantScoreClient, MerchantScoreUnavailable
from message_types import (
    ALERT,
    CONFIRM_FRAUD,
    CUSTOM_THRESHOLD,
    EXPIRE_FRAUD,
    FEATURE_VECTOR,
    FRAUD_SCORE,
    MERCHANT_SCORE,
    QUERY_FRAUD,
    QUERY_MERCHANT_SCORE,
    QUERY_THRESHOLD,
    REPORTED_FRAUD,
    TRANSACTION,
)
from messaging import parse, reply, send, send_after
from names import ALERTS_TOPIC, COUNTER, KAFKA_EGRESS, MERCHANT, MODEL, THRESHOLD, TRANSACTION_MANAGER

log = logging.getLogger("functions")

# Read once, at start-up: a bad FRAUD_THRESHOLD, FRAUD_WINDOW or
# MERCHANT_SERVICE_URL stops the worker here, with a message naming it.
settings = config.load()
merchant_scores = MerchantScoreClient(settings.merchant_service_url)

functions = StatefulFunctions()


# ---------------------------------------------------------------------------
# The transaction manager: one instance per transaction id.
# ---------------------------------------------------------------------------

@functions.bind(
    typename=TRANSACTION_MANAGER,
    specs=[
        ValueSpec(name="transaction", type=TRANSACTION),
        ValueSpec(name="fraud_count", type=REPORTED_FRAUD),
        ValueSpec(name="merchant_score", type=MERCHANT_SCORE),
        ValueSpec(name="threshold", type=CUSTOM_THRESHOLD),
        # Remembers a finished transaction's score for an hour, so that the same record
        # delivered again (a producer's retry, say) is not scored, nor alerted, twice.
        ValueSpec(name="scored", type=FRAUD_SCORE, expire_after_write=timedelta(hours=1)),
    ])
@dead_letter_on_failure
def transaction_manager(context: Context, message: Message):
    if message.is_type(TRANSACTION):
        start_scoring(context, parse(message, TRANSACTION))
    elif message.is_type(REPORTED_FRAUD):
        require_transaction(context).fraud_count = parse(message, REPORTED_FRAUD)
        send_features_when_complete(context)
    elif message.is_type(MERCHANT_SCORE):
        require_transaction(context).merchant_score = parse(message, MERCHANT_SCORE)
        send_features_when_complete(context)
    elif message.is_type(CUSTOM_THRESHOLD):
        require_transaction(context).threshold = parse(message, CUSTOM_THRESHOLD)
        send_features_when_complete(context)
    elif message.is_type(FRAUD_SCORE):
        require_transaction(context)
        decide(context, parse(message, FRAUD_SCORE))
    else:
        raise BadMessage(f"the transaction manager does not take {message.value_typename()}")


# Names become function ids and travel in every alert: keep them to a sane size.
MAX_NAME_LENGTH = 256


def start_scoring(context: Context, transaction):
    if not transaction.account or not transaction.merchant:
        raise BadMessage("a transaction needs an account and a merchant")
    if len(transaction.account) > MAX_NAME_LENGTH or len(transaction.merchant) > MAX_NAME_LENGTH:
        raise BadMessage(f"an account or merchant name longer than {MAX_NAME_LENGTH} characters")
    if transaction.amount < 0:
        raise BadMessage(f"a transaction cannot have a negative amount ({transaction.amount})")
    if context.storage.transaction is not None:
        raise BadMessage("a duplicate of a transaction that is still being scored")
    if context.storage.scored is not None:
        raise BadMessage("a duplicate of a transaction scored within the last hour")
    context.storage.transaction = transaction
    send(context, COUNTER, transaction.account, QueryFraud(), QUERY_FRAUD)
    send(context, MERCHANT, transaction.merchant, QueryMerchantScore(), QUERY_MERCHANT_SCORE)
    send(context, THRESHOLD, transaction.account, QueryThreshold(), QUERY_THRESHOLD)


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
    send(context, MODEL, storage.transaction.account, features, FEATURE_VECTOR)


def decide(context: Context, fraud_score):
    transaction = context.storage.transaction
    custom = context.storage.threshold
    # 0 means the account has not set a threshold of its own.
    threshold = custom.threshold if custom is not None and custom.threshold > 0 else settings.fraud_threshold
    if fraud_score.score > threshold:
        # DEBUG: under load this would be a line per transaction; the simulator prints the alerts.
        log.debug("%s: ALERT score %d > threshold %d: account %s at %s for %d USD", address_of(context),
                 fraud_score.score, threshold, transaction.account, transaction.merchant, transaction.amount)
        alert = Alert(transaction_id=context.address.id, transaction=transaction,
                      score=fraud_score.score, threshold=threshold)
        context.send_egress(kafka_egress_message(
            typename=KAFKA_EGRESS, topic=ALERTS_TOPIC, key=transaction.account, value=alert, value_type=ALERT))
    # The transaction is done either way: keep only its score, to recognise a duplicate.
    context.storage.scored = fraud_score
    del context.storage.transaction
    del context.storage.fraud_count
    del context.storage.merchant_score
    del context.storage.threshold


# ---------------------------------------------------------------------------
# The fraud counter: confirmed frauds of one account within a rolling window.
# ---------------------------------------------------------------------------

@functions.bind(typename=COUNTER, specs=[ValueSpec(name="fraud_count", type=REPORTED_FRAUD)])
@dead_letter_on_failure
def fraud_count(context: Context, message: Message):
    if message.is_type(CONFIRM_FRAUD):
        confirmation = parse(message, CONFIRM_FRAUD)
        if confirmation.account != context.address.id:
            raise BadMessage(f"a confirmation for account {confirmation.account!r} was keyed {context.address.id!r}")
        count = context.storage.fraud_count or ReportedFraud()
        count.count += 1
        context.storage.fraud_count = count
        log.info("%s: fraud confirmed, %d in the window", address_of(context), count.count)
        # Each confirmation leaves the window on its own: a durable timer
        # that StateFun keeps in its state, so it fires even across restarts.
        send_after(context, settings.fraud_window, COUNTER, context.address.id, ExpireFraud(), EXPIRE_FRAUD)
    elif message.is_type(QUERY_FRAUD):
        parse(message, QUERY_FRAUD)
        reply(context, context.storage.fraud_count or ReportedFraud(count=0), REPORTED_FRAUD)
    elif message.is_type(EXPIRE_FRAUD):
        parse(message, EXPIRE_FRAUD)
        count = context.storage.fraud_count or ReportedFraud()
        count.count = max(0, count.count - 1)  # never below zero
        if count.count == 0:
            del context.storage.fraud_count  # no state is kept for zero
        else:
            # The stored message itself, changed: fields a newer version added stay in it.
            context.storage.fraud_count = count
        log.info("%s: a fraud left the window, %d in it", address_of(context), count.count)
    else:
        raise BadMessage(f"the fraud counter does not take {message.value_typename()}")


# ---------------------------------------------------------------------------
# The merchant function: a merchant's risk score from a third-party service.
# ---------------------------------------------------------------------------

# When the service stays down, the transaction is scored anyway, with the
# middle of the range: a merchant we know nothing about is neither trusted
# nor condemned. The fallback is not cached, so the next query asks again.
FALLBACK_MERCHANT_SCORE = 50


@functions.bind(
    typename=MERCHANT,
    # The score is cached for an hour; StateFun's state TTL drops it after.
    specs=[ValueSpec(name="merchant_score", type=MERCHANT_SCORE, expire_after_write=timedelta(hours=1))])
@dead_letter_on_failure
async def merchant(context: Context, message: Message):
    parse(message, QUERY_MERCHANT_SCORE)
    score = context.storage.merchant_score
    if score is None:
        score = await look_up_merchant_score(context)
        if not score.is_fallback:
            context.storage.merchant_score = score
    reply(context, score, MERCHANT_SCORE)


async def look_up_merchant_score(context: Context) -> MerchantScore:
    try:
        return MerchantScore(score=await merchant_scores.score(context.address.id))
    except MerchantScoreUnavailable as problem:
        log.warning("%s: using the fallback score %d: %s", address_of(context), FALLBACK_MERCHANT_SCORE, problem)
        return MerchantScore(score=FALLBACK_MERCHANT_SCORE, is_fallback=True)


# ---------------------------------------------------------------------------
# The threshold function: an account's own alert threshold, if it set one.
# ---------------------------------------------------------------------------

@functions.bind(typename=THRESHOLD, specs=[ValueSpec(name="threshold", type=CUSTOM_THRESHOLD)])
@dead_letter_on_failure
def threshold(context: Context, message: Message):
    account = context.address.id
    if message.is_type(CUSTOM_THRESHOLD):
        update = parse(message, CUSTOM_THRESHOLD)
        if update.account != account:
            raise BadMessage(f"a threshold for account {update.account!r} was keyed {account!r}")
        if not 0 <= update.threshold <= 100:
            raise BadMessage(f"a threshold must be from 0 (the default) to 100, not {update.threshold}")
        if update.threshold == 0:
            del context.storage.threshold  # back to the default
        else:
            context.storage.threshold = update  # as sent, with any field a newer producer added
        log.info("%s: threshold set to %s", address_of(context), update.threshold or "the default")
    elif message.is_type(QUERY_THRESHOLD):
        parse(message, QUERY_THRESHOLD)
        reply(context, context.storage.threshold or CustomThreshold(threshold=0, account=account), CUSTOM_THRESHOLD)
    else:
        raise BadMessage(f"the threshold function does not take {message.value_typename()}")


# ---------------------------------------------------------------------------
# The model: scores a feature vector from 0 (harmless) to 100 (fraud).
# ---------------------------------------------------------------------------

@functions.bind(typename=MODEL)
@dead_letter_on_failure
def model(context: Context, message: Message):
    features = parse(message, FEATURE_VECTOR)
    reply(context, FraudScore(score=fraud_score(features)), FRAUD_SCORE)


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


if __name__ == "__main__":
    server.run(functions, settings, on_shutdown=[merchant_scores.close])
