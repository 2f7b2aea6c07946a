"""The live page's service without Kafka or Flink: what it serves, what it pushes, and the
input and the requests it refuses before anything is sent. (tests/e2e/test_live_page.py runs
it against the real workshop, in a browser.)"""

import argparse
import json

import pytest

import dashboard
from entities_pb2 import Alert, Transaction

TOKEN = "the-token-of-this-start"
KNOWN = "0x00F3CD51"


@pytest.fixture
def settings(unused_tcp_port):
    # Nothing answers at this bootstrap: a request that got as far as Kafka would answer 503.
    return argparse.Namespace(
        bootstrap=f"127.0.0.1:{unused_tcp_port}",
        flink="http://127.0.0.1:1",
        flink_ui="http://127.0.0.1:8001",
        prometheus_ui="http://127.0.0.1:9090",
        token=TOKEN,
        producer=None,
    )


@pytest.fixture
async def client(aiohttp_client, settings):
    app = dashboard.create_app(settings, follow=False)
    app[dashboard.STATE].alerted(dashboard.alert_event(an_alert(KNOWN)))
    return await aiohttp_client(app)


def an_alert(account: str, **fields) -> Alert:
    transaction = Transaction(account=account, merchant="Hypergrid", amount=36)
    return Alert(transaction_id="t-1", transaction=transaction, score=61, threshold=50, **fields)


async def post(client, path: str, body, **headers):
    headers = {dashboard.TOKEN_HEADER: TOKEN, **headers}
    data = body if isinstance(body, str) else json.dumps(body)
    answer = await client.post(path, data=data, headers=headers)
    return answer.status, await answer.json()


async def test_the_page_carries_this_starts_token_and_the_links(client):
    page = await (await client.get("/")).text()
    assert f'<meta name="workshop-token" content="{TOKEN}">' in page
    assert 'href="http://127.0.0.1:8001"' in page and "http://127.0.0.1:9090/graph?" in page
    assert "{{" not in page


def test_an_alert_says_what_its_score_came_from():
    event = dashboard.alert_event(
        an_alert(KNOWN, fraud_count=2, merchant_score=50, merchant_score_fallback=True, custom_threshold=True)
    )
    assert event | {"time": None} == {
        "transaction_id": "t-1",
        "time": None,
        "account": KNOWN,
        "merchant": "Hypergrid",
        "amount": 36,
        "score": 61,
        "threshold": 50,
        "custom_threshold": True,
        "fraud_count": 2,
        "merchant_score": 50,
        "merchant_score_fallback": True,
    }
    # An alert written before those fields existed reads as "none, not a fallback, the default".
    older = dashboard.alert_event(Alert.FromString(an_alert(KNOWN).SerializeToString()))
    assert (older["fraud_count"], older["merchant_score_fallback"], older["custom_threshold"]) == (0, False, False)


@pytest.mark.parametrize(
    "headers",
    [{dashboard.TOKEN_HEADER: ""}, {dashboard.TOKEN_HEADER: "a guess"}, {"Origin": "https://elsewhere.example"}],
    ids=["no token", "wrong token", "another site"],
)
async def test_a_request_that_is_not_from_the_page_is_refused(client, headers):
    status, said = await post(client, "/threshold", {"account": KNOWN, "threshold": 5}, **headers)
    assert status == 403 and "not from this workshop's page" in said["error"]


@pytest.mark.parametrize(
    "path, body, error",
    [
        ("/threshold", {"account": KNOWN, "threshold": 101}, "a threshold is 0 (the default applies) to 100, not 101"),
        ("/threshold", {"account": KNOWN, "threshold": -1}, "a threshold is 0 (the default applies) to 100, not -1"),
        ("/threshold", {"account": KNOWN, "threshold": "5"}, "a threshold is a whole number"),
        ("/threshold", {"account": KNOWN}, "a threshold is a whole number"),
        ("/confirm", {"account": "0x0BADBEEF"}, "0x0BADBEEF has not alerted here"),
        ("/confirm", {"account": ""}, "name an account"),
        ("/confirm", {"account": "a b"}, "'a b' is not an account name"),
        ("/confirm", "not json", "the request is not JSON"),
        ("/confirm", "[1, 2]", "the request is not a JSON object"),
    ],
)
async def test_bad_input_gets_a_message_and_reaches_no_kafka(client, path, body, error):
    status, said = await post(client, path, body)
    assert status == 400, said  # 503 would mean it went as far as Kafka
    assert error in said["error"]


@pytest.mark.slow
async def test_a_good_request_goes_to_kafka_which_here_does_not_answer(client):
    status, said = await post(client, "/threshold", {"account": KNOWN, "threshold": 5})
    assert status == 503 and "Kafka did not take it" in said["error"]


async def test_each_alert_and_the_flows_are_pushed_to_every_open_page(client):
    events = await client.get("/events")
    app = client.server.app
    first = await events.content.readuntil(b"\n\n")  # the recent alert, at once
    assert first.startswith(b"event: alert\ndata: ") and KNOWN.encode() in first

    event = dashboard.alert_event(an_alert("0x00AB12CD"))
    app[dashboard.STATE].alerted(event)
    app[dashboard.HUB].publish("alert", event)
    app[dashboard.HUB].publish("flows", {"kafka": {"down": "no answer"}, "alerts_per_second": 0.0})
    pushed = [await events.content.readuntil(b"\n\n") for _ in range(2)]
    assert json.loads(pushed[0].split(b"data: ", 1)[1]) == event
    assert pushed[1].startswith(b"event: flows\n") and b"no answer" in pushed[1]
    events.close()
