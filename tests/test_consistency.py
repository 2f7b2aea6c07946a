"""The names that several files must agree on, checked against each other.

Function typenames, the egress and topics live in statefun-functions/contract.py
and simulator/kafka_topics.py for Python, and in statefun-runtime/module.yaml
for the runtime; message typenames come from protobuf/entities.proto.
"""

import pathlib

import yaml

import config
import contract
import entities_pb2
import kafka_topics
import layout
from contract import type_of
from entities_pb2 import ConfirmFraud, CustomThreshold, Transaction

ROOT = pathlib.Path(__file__).resolve().parent.parent


def module_documents():
    return list(yaml.safe_load_all((ROOT / "statefun-runtime" / "module.yaml").read_text()))


def ingresses():
    return {doc["spec"]["id"]: doc["spec"] for doc in module_documents() if doc["kind"].endswith("/ingress")}


def test_the_ingresses_route_each_topic_to_its_function_with_its_message_type():
    routes = {
        (topic["topic"], topic["valueType"], tuple(topic["targets"]))
        for spec in ingresses().values()
        for topic in spec["topics"]
    }
    assert routes == {
        (kafka_topics.TRANSACTIONS, type_of(Transaction).typename, (contract.TRANSACTION_MANAGER,)),
        (kafka_topics.CONFIRMED, type_of(ConfirmFraud).typename, (contract.COUNTER,)),
        (kafka_topics.THRESHOLDS, type_of(CustomThreshold).typename, (contract.THRESHOLD,)),
    }
    assert set(ingresses()) == {"ververica/transactions", "ververica/confirmed-fraud", "ververica/thresholds"}


def test_every_ingress_has_the_guard_against_records_without_key_or_value():
    guard = ROOT / "statefun-runtime" / "ingress-guard" / "workshop" / "statefun" / "NullRecordGuard.java"
    assert "class NullRecordGuard implements ConsumerInterceptor" in guard.read_text()
    for spec in ingresses().values():
        assert {"interceptor.classes": "workshop.statefun.NullRecordGuard"} in spec["properties"]


def test_the_egress_is_the_one_the_functions_write_to_and_exactly_once():
    [egress] = [doc["spec"] for doc in module_documents() if doc["kind"].endswith("/egress")]
    assert egress["id"] == contract.KAFKA_EGRESS
    assert egress["deliverySemantic"]["type"] == "exactly-once"


def test_the_endpoint_serves_every_function_at_python_workers_port():
    [endpoint] = [doc["spec"] for doc in module_documents() if doc["kind"] == "io.statefun.endpoints.v2/http"]
    assert endpoint["functions"] == "ververica/*"
    assert endpoint["urlPathTemplate"] == f"http://python-worker:{contract.HTTP_PORT}{contract.STATEFUN_PATH}"
    for typename in (
        contract.TRANSACTION_MANAGER,
        contract.COUNTER,
        contract.MERCHANT,
        contract.THRESHOLD,
        contract.MODEL,
    ):
        assert typename.startswith("ververica/")


def test_all_kafka_clients_use_the_broker_of_the_contract():
    addresses = {doc["spec"]["address"] for doc in module_documents() if "address" in doc["spec"]}
    assert addresses == {kafka_topics.DEFAULT_BOOTSTRAP} == {"kafka-broker:9092"}


def test_the_functions_and_the_simulator_agree_on_the_output_topics():
    assert (contract.ALERTS_TOPIC, contract.DEAD_LETTERS_TOPIC) == (kafka_topics.ALERTS, kafka_topics.DEAD_LETTERS)


def test_every_message_of_the_proto_travels_under_the_contracts_namespace():
    names = list(entities_pb2.DESCRIPTOR.message_types_by_name)
    assert {"Transaction", "ConfirmFraud", "CustomThreshold", "Alert", "DeadLetter"} <= set(names)
    for name in names:
        assert type_of(getattr(entities_pb2, name)).typename == f"com.googleapis/workshop.{name}"


def test_python_worker_looks_for_the_merchant_service_where_make_up_runs_it():
    assert config.LOCAL_MERCHANT_SERVICE_URL == layout.MERCHANT_SERVICE
