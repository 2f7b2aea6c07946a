"""Test tools that speak StateFun's request-reply protocol to the real functions.

They are NOT a StateFun runtime and nothing but tests uses them. They build the
serialized `ToFunction` requests the runtime would send, pass them to the SDK's
real `RequestReplyHandler` (the same object the HTTP endpoint uses), and read
the serialized `FromFunction` answers, so every test goes through the wire
format, the state round-trip and `incomplete_invocation_context`.

- `Instance` is one function instance: it keeps that address's state from one
  invocation to the next, as the runtime does.
- `Worker` holds the functions bound as python-worker's entry point binds
  them, with settings and a merchant-score client a test may change.
- `Flow` plays the runtime's part for a whole application, in-process: it
  routes outgoing messages between the real functions, keeps every address's
  state, fires delayed messages on a virtual clock and collects what goes to
  the egress. It delivers one message per request, in the order sent; it does
  not implement state TTL, checkpoints or retries (the real runtime's tests in
  tests/e2e cover those).
"""

import collections
import dataclasses
import heapq
import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Optional

from statefun import RequestReplyHandler, StatefulFunctions
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import Address, FromFunction, ToFunction, TypedValue

import config
import main
import messaging
from contract import ALERTS_TOPIC, DEAD_LETTERS_TOPIC, KAFKA_EGRESS, type_of
from entities_pb2 import Alert, CustomThreshold, DeadLetter, QueryFraud, QueryThreshold, ReportedFraud
from merchant_client import MerchantScoreClient

KAFKA_RECORD_TYPENAME = "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord"


def typed(value) -> TypedValue:
    """A protobuf message of entities_pb2 as the TypedValue StateFun carries it."""
    return TypedValue(typename=type_of(type(value)).typename, has_value=True, value=value.SerializeToString())


def raw_typed(typename: str, payload: bytes) -> TypedValue:
    """Arbitrary bytes under a typename, as a Kafka ingress delivers a record's value."""
    return TypedValue(typename=typename, has_value=True, value=payload)


def address(typename: str, instance_id: str) -> Address:
    namespace, name = typename.split("/")
    return Address(namespace=namespace, type=name, id=instance_id)


def typename_of(pb_address: Address) -> str:
    return f"{pb_address.namespace}/{pb_address.type}"


@dataclass
class Call:
    """One message on its way to a function."""

    typename: str
    instance_id: str
    argument: TypedValue
    caller: Optional[Address] = None


@dataclass
class EgressRecord:
    egress: str
    topic: str
    key: str
    value: bytes

    def parse(self, message_class):
        parsed = message_class()
        parsed.ParseFromString(self.value)
        return parsed


def to_function(typename: str, instance_id: str, arguments, state: dict, callers=None) -> ToFunction:
    """The request the runtime sends: a batch of arguments for one address, with its state.

    `state` maps each state name the runtime knows of to its TypedValue, or to
    None when that state is empty.
    """
    request = ToFunction()
    invocation = request.invocation
    invocation.target.CopyFrom(address(typename, instance_id))
    for name, value in state.items():
        persisted = invocation.state.add()
        persisted.state_name = name
        if value is not None:
            persisted.state_value.CopyFrom(value)
    for argument, caller in zip(arguments, callers or [None] * len(arguments), strict=True):
        call = invocation.invocations.add()
        call.argument.CopyFrom(argument)
        if caller is not None:
            call.caller.CopyFrom(caller)
    return request


def apply_mutations(state: dict, result) -> None:
    delete = FromFunction.PersistedValueMutation.MutationType.Value("DELETE")
    for mutation in result.state_mutations:
        state[mutation.state_name] = None if mutation.mutation_type == delete else mutation.state_value


def egress_records(result) -> list:
    records = []
    for outgoing in result.outgoing_egresses:
        assert outgoing.argument.typename == KAFKA_RECORD_TYPENAME
        record = KafkaProducerRecord.FromString(outgoing.argument.value)
        records.append(
            EgressRecord(
                egress=f"{outgoing.egress_namespace}/{outgoing.egress_type}",
                topic=record.topic,
                key=record.key,
                value=record.value_bytes,
            )
        )
    return records


# --- reading an invocation's result --------------------------------------------


def targets(result) -> list[tuple[str, str, str]]:
    """(function typename, instance id, message typename) of each message sent."""
    return [
        (f"{m.target.namespace}/{m.target.type}", m.target.id, m.argument.typename) for m in result.outgoing_messages
    ]


def dead_letters(result) -> list[DeadLetter]:
    return [record.parse(DeadLetter) for record in egress_records(result) if record.topic == DEAD_LETTERS_TOPIC]


def alerts(result) -> list[tuple[str, Alert]]:
    """(key, alert) of each record for the alerts topic; every record goes to the one egress."""
    records = egress_records(result)
    assert all(record.egress == KAFKA_EGRESS for record in records)
    return [(record.key, record.parse(Alert)) for record in records if record.topic == ALERTS_TOPIC]


def assert_refused(result, reason_part: str) -> DeadLetter:
    """The message went to dead-letters, and nothing else happened."""
    letters = dead_letters(result)
    assert len(letters) == 1, letters
    assert reason_part in letters[0].reason
    assert not result.outgoing_messages and not result.delayed_invocations and not result.state_mutations
    return letters[0]


async def query_count(counter: "Instance", asker: Address) -> int:
    """The counter's answer to `asker`'s QueryFraud."""
    result = await counter.invoke(typed(QueryFraud()), callers=[asker])
    [reply] = result.outgoing_messages
    assert reply.target == asker
    return ReportedFraud.FromString(reply.argument.value).count


async def query_threshold(instance: "Instance", asker: Address) -> CustomThreshold:
    """The threshold function's answer to `asker`'s QueryThreshold."""
    result = await instance.invoke(typed(QueryThreshold()), callers=[asker])
    [reply] = result.outgoing_messages
    return CustomThreshold.FromString(reply.argument.value)


class Instance:
    """One function instance, invoked through the protocol, keeping its state."""

    def __init__(self, functions: StatefulFunctions, typename: str, instance_id: str):
        self.handler = RequestReplyHandler(functions)
        self.typename = typename
        self.instance_id = instance_id
        # What the runtime knows: state names it learned, and their values.
        self.state: dict = {}
        self.round_trips = 0

    async def invoke(self, *arguments: TypedValue, callers=None):
        """Send one batch; returns the InvocationResponse (after any state negotiation)."""
        while True:
            request = to_function(self.typename, self.instance_id, list(arguments), self.state, callers)
            response = FromFunction.FromString(await self.handler.handle_async(request.SerializeToString()))
            self.round_trips += 1
            if response.HasField("incomplete_invocation_context"):
                # The function declared states the runtime did not send: register them, retry.
                for missing in response.incomplete_invocation_context.missing_values:
                    self.state.setdefault(missing.state_name, None)
                continue
            result = response.invocation_result
            apply_mutations(self.state, result)
            return result

    def value(self, state_name: str, message_class):
        typed_value = self.state.get(state_name)
        if typed_value is None or not typed_value.has_value:
            return None
        return message_class.FromString(typed_value.value)


@dataclass(order=True)
class _Timer:
    due_ms: int
    sequence: int
    call: Call = field(compare=False)


class Flow:
    """The runtime's part, played in-process over the real handler (see the module doc)."""

    def __init__(self, functions: StatefulFunctions):
        self.functions = functions
        self.instances: dict = {}
        self.pending = collections.deque()
        self.timers: list = []
        self.now_ms = 0
        self.egress: list = []
        self.delivered = 0
        self._sequence = itertools.count()

    def instance(self, typename: str, instance_id: str) -> Instance:
        key = (typename, instance_id)
        if key not in self.instances:
            self.instances[key] = Instance(self.functions, typename, instance_id)
        return self.instances[key]

    def ingress(self, typename: str, instance_id: str, argument: TypedValue) -> None:
        """A record from a Kafka ingress, routed to `typename` by its key."""
        self.pending.append(Call(typename, instance_id, argument))

    async def run(self, max_messages: int = 100_000) -> None:
        """Deliver messages until none is pending (timers wait for `advance`)."""
        while self.pending:
            if self.delivered >= max_messages:
                raise AssertionError(f"still busy after {max_messages} messages: a message loop?")
            await self._deliver(self.pending.popleft())

    async def advance(self, duration: timedelta) -> None:
        """Move the virtual clock forward, firing the delayed messages that fall due."""
        until = self.now_ms + int(duration.total_seconds() * 1000)
        await self.run()
        while self.timers and self.timers[0].due_ms <= until:
            timer = heapq.heappop(self.timers)
            self.now_ms = timer.due_ms
            self.pending.append(timer.call)
            await self.run()
        self.now_ms = until

    async def _deliver(self, call: Call) -> None:
        target = self.instance(call.typename, call.instance_id)
        result = await target.invoke(call.argument, callers=[call.caller])
        self.delivered += 1
        sender = address(call.typename, call.instance_id)
        for outgoing in result.outgoing_messages:
            self.pending.append(Call(typename_of(outgoing.target), outgoing.target.id, outgoing.argument, sender))
        for delayed in result.delayed_invocations:
            assert not delayed.is_cancellation_request, "this application cancels no timers"
            call = Call(typename_of(delayed.target), delayed.target.id, delayed.argument, sender)
            heapq.heappush(self.timers, _Timer(self.now_ms + delayed.delay_in_ms, next(self._sequence), call))
        self.egress.extend(egress_records(result))

    def topic(self, topic: str) -> list:
        return [record for record in self.egress if record.topic == topic]


class Worker:
    """The functions as python-worker's entry point binds them: with the default settings
    (no environment read) unless a test changes one, and a merchant-score client."""

    def __init__(self):
        self.settings = config.from_environment({})
        self.merchant_scores = MerchantScoreClient(self.settings.merchant_service_url)
        self.functions = StatefulFunctions()
        self.bind()

    def bind(self) -> None:
        # Binding again replaces each function in the same StatefulFunctions, so the
        # instances and handlers a test already made see the change.
        main.bind_functions(self.functions, self.settings, self.merchant_scores)
        # python-worker would refuse to start (server.run): the checks of an exercise say it too.
        unguarded = messaging.unguarded(self.functions)
        assert unguarded is None, unguarded

    def configure(self, **values) -> None:
        self.settings = dataclasses.replace(self.settings, **values)
        self.bind()

    def use_merchant_scores(self, client: MerchantScoreClient) -> None:
        self.merchant_scores = client
        self.bind()
