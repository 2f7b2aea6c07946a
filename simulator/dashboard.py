"""The live page: alerts as they commit, what flows through the pipeline, and the three
ingresses at hand.

    python dashboard.py                     # http://127.0.0.1:8088 (docker compose and `make up` start it)

It reads what the workshop already runs, and nothing else:

- the `alerts` topic, read_committed (as the simulator's printer reads it), pushed to every
  open page as Server-Sent Events the moment an alert commits;
- the topics' end offsets, for transactions/s and the dead letters, and Flink's REST API, for
  the job's state and its last checkpoint: every 2 seconds, each part marked down on its own
  when it does not answer;
- on the page, for an account that alerted: confirm a fraud (`confirmed`) or set or clear its
  threshold (`thresholds`). Bad input is refused here, with a message, and never reaches Kafka.

Only the page itself may send: every POST needs the token the page was served with (new at
every start) and, when the browser names one, an Origin equal to the page's. A page of another
site in the same browser has neither, so it can make this service send nothing.
"""

import argparse
import asyncio
import collections
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.request
from pathlib import Path

from aiohttp import web
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import kafka_topics
from entities_pb2 import Alert, ConfirmFraud, CustomThreshold

log = logging.getLogger("dashboard")

PAGE = Path(__file__).with_name("dashboard.html")
DEFAULT_PORT = 8088
RECENT_ALERTS = 50  # what a page opened now starts with
KNOWN_ACCOUNTS = 10_000  # the accounts that alerted lately, the ones the page may act on
FLOWS_EVERY_SECONDS = 2.0
MAX_ACCOUNT_LENGTH = 256  # as python-worker's limit on names (main.py)
ACCOUNT = re.compile(r"^[\w.:-]+$")
TOKEN_HEADER = "X-Workshop-Token"

SETTINGS = web.AppKey("settings", argparse.Namespace)


class Refused(Exception):
    """Input the page sent that must not reach Kafka; the text says why, for the page."""


def alert_event(alert: Alert, written_ms: int | None = None) -> dict:
    """An alert as the page shows it: when it was written, the transaction, its score against
    the threshold that applied, and what the score came from (0 and false in an alert older
    than those fields)."""
    transaction = alert.transaction
    return {
        "transaction_id": alert.transaction_id,
        "time": written_ms / 1000 if written_ms is not None else None,
        "account": transaction.account,
        "merchant": transaction.merchant,
        "amount": transaction.amount,
        "score": alert.score,
        "threshold": alert.threshold,
        "custom_threshold": alert.custom_threshold,
        "fraud_count": alert.fraud_count,
        "merchant_score": alert.merchant_score,
        "merchant_score_fallback": alert.merchant_score_fallback,
    }


def valid_account(text) -> str:
    if not isinstance(text, str) or not text:
        raise Refused("name an account")
    if len(text) > MAX_ACCOUNT_LENGTH or not ACCOUNT.match(text):
        raise Refused(f"{text[:40]!r} is not an account name")
    return text


def valid_threshold(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused("a threshold is a whole number, 0 (the default applies) to 100")
    if not 0 <= value <= 100:
        raise Refused(f"a threshold is 0 (the default applies) to 100, not {value}")
    return value


class Hub:
    """The open pages, each with a queue of events; a page that cannot keep up loses its
    oldest events, never the others' and never the feed's."""

    def __init__(self) -> None:
        self.pages: set[asyncio.Queue] = set()

    def publish(self, kind: str, data: dict) -> None:
        for queue in self.pages:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait((kind, data))


class State:
    """What the feeds learnt, shared by the page handlers (all on the event loop's thread)."""

    def __init__(self) -> None:
        self.recent: collections.deque[dict] = collections.deque(maxlen=RECENT_ALERTS)
        self.accounts: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.alert_times: collections.deque[float] = collections.deque(maxlen=100_000)
        self.flows: dict = {}

    def alerted(self, event: dict, live: bool = True) -> None:
        """An alert read; `live`: it committed now (not one of the recent ones read at start)."""
        self.recent.append(event)
        self.accounts[event["account"]] = None
        self.accounts.move_to_end(event["account"])
        if len(self.accounts) > KNOWN_ACCOUNTS:
            self.accounts.popitem(last=False)
        if live:
            self.alert_times.append(time.monotonic())

    def alerts_per_second(self, seconds: float) -> float:
        since = time.monotonic() - seconds
        return sum(1 for at in self.alert_times if at >= since) / seconds


HUB = web.AppKey("hub", Hub)
STATE = web.AppKey("state", State)


def follow_alerts(settings, loop: asyncio.AbstractEventLoop, on_alert) -> None:
    """The alerts topic, committed alerts only, from the last RECENT_ALERTS on (a thread)."""
    while True:
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=settings.bootstrap, isolation_level="read_committed", enable_auto_commit=False
            )
            partitions = [
                TopicPartition(kafka_topics.ALERTS, p)
                for p in sorted(consumer.partitions_for_topic(kafka_topics.ALERTS) or ())
            ]
            if not partitions:
                raise RuntimeError(f"no topic {kafka_topics.ALERTS} yet")
            consumer.assign(partitions)
            ends = consumer.end_offsets(partitions)
            for partition, end in ends.items():
                consumer.seek(partition, max(0, end - RECENT_ALERTS))
            log.info("following %s at %s", kafka_topics.ALERTS, settings.bootstrap)
            for record in consumer:
                alert = Alert()
                try:
                    alert.ParseFromString(record.value)
                except Exception as problem:  # noqa: BLE001 - one bad record must not stop the page
                    log.warning("skipping an unreadable alert at offset %d: %s", record.offset, problem)
                    continue
                live = record.offset >= ends[TopicPartition(record.topic, record.partition)]
                loop.call_soon_threadsafe(on_alert, alert_event(alert, record.timestamp), live)
        except Exception as problem:  # noqa: BLE001 - Kafka away: say so, try again
            log.warning(
                "cannot read %s at %s (%s); trying again in 5 s", kafka_topics.ALERTS, settings.bootstrap, problem
            )
            time.sleep(5)


def end_offsets(consumer: KafkaConsumer, topic: str) -> int:
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    return sum(consumer.end_offsets(partitions).values()) if partitions else 0


def rest_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=3) as answer:
        return json.load(answer)


def job_status(flink: str) -> dict:
    """The StateFun job's state and its last completed checkpoint, from Flink's REST API."""
    jobs = rest_json(f"{flink}/jobs/overview")["jobs"]
    if not jobs:
        return {"state": "no job"}
    job = max(jobs, key=lambda one: one["start-time"])
    status = {"state": job["state"], "id": job["jid"]}
    completed = rest_json(f"{flink}/jobs/{job['jid']}/checkpoints").get("latest", {}).get("completed")
    if completed:
        status["checkpoint"] = {
            "id": completed["id"],
            "age_seconds": max(0.0, time.time() - completed["latest_ack_timestamp"] / 1000),
            "duration_ms": completed["end_to_end_duration"],
        }
    return status


class Flows:
    """Every FLOWS_EVERY_SECONDS: the rates and the job, each part on its own (a thread)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.consumer: KafkaConsumer | None = None
        self.last: tuple[float, int] | None = None

    def kafka(self) -> dict:
        if self.consumer is None:
            self.consumer = KafkaConsumer(bootstrap_servers=self.settings.bootstrap, enable_auto_commit=False)
        now, transactions = time.monotonic(), end_offsets(self.consumer, kafka_topics.TRANSACTIONS)
        rate = None
        if self.last is not None and now > self.last[0]:
            rate = (transactions - self.last[1]) / (now - self.last[0])
        self.last = (now, transactions)
        return {"transactions_per_second": rate, "dead_letters": end_offsets(self.consumer, kafka_topics.DEAD_LETTERS)}

    def measure(self) -> dict:
        flows: dict = {}
        try:
            flows["kafka"] = self.kafka()
        except Exception as problem:  # noqa: BLE001 - shown on the page as "Kafka: down"
            self.consumer, self.last = None, None
            flows["kafka"] = {"down": f"no answer from Kafka at {self.settings.bootstrap} ({problem})"}
        try:
            flows["job"] = job_status(self.settings.flink)
        except Exception as problem:  # noqa: BLE001 - shown on the page as "Flink: down"
            flows["job"] = {"down": f"no answer from Flink at {self.settings.flink} ({problem})"}
        return flows


async def measure_flows(app: web.Application) -> None:
    flows, state, hub = Flows(app[SETTINGS]), app[STATE], app[HUB]
    while True:
        measured = await asyncio.get_running_loop().run_in_executor(None, flows.measure)
        measured["alerts_per_second"] = state.alerts_per_second(60)
        state.flows = measured
        hub.publish("flows", measured)
        await asyncio.sleep(FLOWS_EVERY_SECONDS)


# --- the page and its requests ---------------------------------------------------------------


async def page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    html = PAGE.read_text().replace("{{TOKEN}}", settings.token).replace("{{FLINK_UI}}", settings.flink_ui)
    html = html.replace("{{PROMETHEUS_UI}}", settings.prometheus_ui)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the recent alerts, then each alert and the flows as they come."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
    hub, state = request.app[HUB], request.app[STATE]
    for event in state.recent:
        queue.put_nowait(("alert", event))
    if state.flows:
        queue.put_nowait(("flows", state.flows))
    hub.pages.add(queue)
    try:
        while True:
            try:
                kind, data = await asyncio.wait_for(queue.get(), timeout=15)
                await response.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
            except asyncio.TimeoutError:
                await response.write(b": still here\n\n")  # keeps proxies from closing it
    except ConnectionResetError:
        pass  # the page was closed
    finally:
        hub.pages.discard(queue)
    return response


def same_origin(request: web.Request) -> bool:
    """The token the page was served with, and no other site's Origin."""
    settings = request.app[SETTINGS]
    if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), settings.token):
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


async def read_body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise Refused(f"the request is not JSON ({problem})") from None
    if not isinstance(body, dict):
        raise Refused("the request is not a JSON object")
    return body


def act(send):
    """A POST that sends to an ingress: refused from another origin, refused with a message on
    bad input (nothing sent), else sent and acknowledged by Kafka before the page hears back."""

    async def handler(request: web.Request) -> web.Response:
        if not same_origin(request):
            return web.json_response({"error": "refused: not from this workshop's page"}, status=403)
        try:
            body = await read_body(request)
            account = valid_account(body.get("account"))
            if account not in request.app[STATE].accounts:
                raise Refused(f"{account} has not alerted here: the page acts on accounts it shows")
            topic, message, done = send(account, body)
        except Refused as refusal:
            return web.json_response({"error": str(refusal)}, status=400)
        settings, loop = request.app[SETTINGS], asyncio.get_running_loop()
        try:
            if settings.producer is None:  # made at the first send: the page works before Kafka does
                settings.producer = await loop.run_in_executor(None, make_producer, settings.bootstrap)
            future = settings.producer.send(topic, key=account.encode(), value=message.SerializeToString())
            await loop.run_in_executor(None, lambda: future.get(timeout=10))
        except Exception as problem:  # noqa: BLE001 - the page says Kafka is away
            return web.json_response({"error": f"Kafka did not take it: {problem}"}, status=503)
        log.info("%s: %s", account, done)
        return web.json_response({"done": done})

    return handler


def make_producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, **kafka_topics.PRODUCER_SETTINGS)


def confirm(account: str, _body: dict):
    return kafka_topics.CONFIRMED, ConfirmFraud(account=account), "a confirmed fraud sent: its count goes up by one"


def threshold(account: str, body: dict):
    value = valid_threshold(body.get("threshold"))
    done = f"threshold {value} sent" if value else "custom threshold removed: the default applies"
    return kafka_topics.THRESHOLDS, CustomThreshold(account=account, threshold=value), done


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings, follow: bool = True) -> web.Application:
    """The page's service; `follow`: read the alerts and measure the flows (off in unit tests,
    which feed the State themselves)."""
    app = web.Application(client_max_size=16 * 1024)
    app[SETTINGS] = settings
    app[HUB] = Hub()
    app[STATE] = State()
    app.router.add_get("/", page)
    app.router.add_get("/events", events)
    app.router.add_get("/health", health)
    app.router.add_post("/confirm", act(confirm))
    app.router.add_post("/threshold", act(threshold))
    if follow:
        app.cleanup_ctx.append(feeds)
    return app


async def feeds(app: web.Application):
    """The alerts (a thread: kafka-python blocks) and the flows (a task), for the app's life."""
    loop = asyncio.get_running_loop()
    state, hub = app[STATE], app[HUB]

    def on_alert(event: dict, live: bool) -> None:
        state.alerted(event, live)
        hub.publish("alert", event)

    threading.Thread(target=follow_alerts, args=(app[SETTINGS], loop, on_alert), daemon=True, name="alerts").start()
    flows = asyncio.create_task(measure_flows(app))
    yield
    flows.cancel()


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The workshop's live page.")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", kafka_topics.DEFAULT_BOOTSTRAP))
    parser.add_argument("--flink", default=os.environ.get("FLINK_REST", "http://master:8001"), help="Flink's REST API")
    parser.add_argument("--flink-ui", default="http://127.0.0.1:8001", help="Flink's web UI, for the page's link")
    parser.add_argument("--prometheus-ui", default="http://127.0.0.1:9090", help="Prometheus, for the page's links")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    settings = parse_arguments(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings.token = secrets.token_urlsafe(24)  # new at every start: only the page served now may send
    settings.producer = None
    log.info(
        "the live page: http://127.0.0.1:%d (Kafka %s, Flink %s)", settings.port, settings.bootstrap, settings.flink
    )
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
