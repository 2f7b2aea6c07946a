"""The Docker workshop, run for real: the README's docker compose commands, verbatim.

`make test-docker` (also part of `make test`). The suite gets its engine, Compose and images
from `make docker-ready`, runs `docker compose up -d` with docker-compose.yml untouched, and
then what a workshop attendee does: read the alerts, edit main.py and restart python-worker
under traffic, lose the TaskManager, take a savepoint with curl and restart from it, then
scale out from another savepoint (parallelism 2, two python-worker replicas behind
python-worker-lb) and lose a python-worker replica. The
tests run in file order on one deployment; at the end `docker compose down -v` must leave
no container, volume or listener, and an engine the suite started is stopped again.

With FRAUD_THRESHOLD=-1 every transaction alerts, so "every transaction alerts exactly once"
is exact; custom thresholds and scores (20 points per confirmed fraud) show that state
survived.
"""

import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from test_debug_setup import DOCKER, launch_configuration, resolve

import kafka_topics
from browser import PAGE, chromium, keep_screenshot, poll
from docker_workshop import (
    ALERT_TIMEOUT,
    ENVIRONMENT,
    HOST_PORTS,
    RATE,
    START_TIMEOUT,
    assert_each_alerted_once,
    edit,
    job_failures,
    probe_threshold,
    running_at,
    running_job,
    steady_traffic,
    take_savepoint,
)
from entities_pb2 import Alert, ConfirmFraud, CustomThreshold, Transaction
from expectations import QUIET_SECONDS, account, alerted, merchant_scoring, score, send_transaction, settle_all
from local_workshop import prometheus, rest, transactions_lag, wait_for
from prometheus_text import total

pytestmark = pytest.mark.docker

PAUSE_SECONDS = 75  # a breakpoint held past the runtime's default call timeout (1 min)
RECOVERY_TIMEOUT = 300  # a lost TaskManager: restarted by its policy, then the job restores


def replica_slots() -> dict[str, tuple[str, int]]:
    """python-worker-lb's statistics page (CSV): each replica slot's status and the requests
    it served. Of the ten slots (server-template), those without a replica are in MAINT."""
    with urllib.request.urlopen("http://127.0.0.1:8404/;csv", timeout=10) as page:
        header, *rows = [line.split(",") for line in page.read().decode().splitlines() if line]
    columns = {name.lstrip("# "): index for index, name in enumerate(header)}
    return {
        row[columns["svname"]]: (row[columns["status"]], int(row[columns["req_tot"]] or 0))
        for row in rows
        if row[columns["pxname"]] == "python-worker" and row[columns["svname"]] not in ("FRONTEND", "BACKEND")
    }


def requests_per_replica() -> dict[str, int]:
    return {slot: requests for slot, (_, requests) in replica_slots().items()}


def replicas_up() -> int:
    return sum(status.startswith("UP") for status, _ in replica_slots().values())


# --- the images: real or stand-in, they keep the contract the project relies on ----------------
# (../shared/IMAGES.md lists what each real image holds; these are the facts our files use.)

IMAGE_FACTS = {
    "apache/flink-statefun:3.3.0": (
        "test $(id -u) = 0 && test $(id -u flink) = 9999 && test $(id -g flink) = 9999"
        " && test $(id -u statefun) = 9998 && test $(id -gn statefun) = flink"
        " && test $FLINK_HOME = /opt/flink && test $ROLE = worker && test -d /opt/statefun/modules"
        " && test -f /opt/flink/lib/statefun-flink-core.jar && test -f /opt/flink/lib/statefun-flink-distribution.jar"
        " && ! ls /opt/flink/lib | grep -q flink-table && test $(stat -c %u /opt/flink/log) = 9999"
        " && test -f /opt/flink/plugins/metrics-prometheus/flink-metrics-prometheus-1.16.2.jar"
        " && java -version 2>&1 | grep -q 'version \"11' && command -v wget >/dev/null && ! javac -version 2>/dev/null"
    ),
    "apache/kafka:3.9.2": (
        "test $(id -un) = appuser && test $(id -u) = 1000 && test -x /opt/kafka/bin/kafka-server-start.sh"
        " && test -w /var/lib/kafka/data && test -w /opt/kafka/config && command -v bash >/dev/null"
        " && ! command -v curl && ! command -v python3"
    ),
    "python:3.11.16-slim-bookworm": (
        "test $(id -u) = 0 && python --version | grep -q '^Python 3\\.11\\.' && pip --version >/dev/null"
        " && test $(command -v python) = /usr/local/bin/python && ! command -v curl && ! command -v wget"
    ),
    "eclipse-temurin:11.0.25_9-jdk": (
        "test $(id -u) = 0 && javac -version 2>&1 | grep -q '^javac 11\\.' && command -v jar >/dev/null"
        " && test -x /opt/java/openjdk/bin/javac"
    ),
    "haproxy:2.6.12": (
        "test $(id -un) = haproxy && test $(id -u) = 99 && test $(id -g) = 99"
        " && test $(command -v haproxy) = /usr/local/sbin/haproxy && haproxy -v | grep -q 'version 2\\.6\\.12'"
        " && test -d /usr/local/etc/haproxy/errors && command -v bash >/dev/null"
    ),
    # busybox in the real image: sh, not bash (IMAGE_SHELL)
    "prom/prometheus:v2.42.0": (
        "test $(id -u) = 65534 && /bin/prometheus --version 2>&1 | grep -q 'version 2\\.42\\.0'"
        " && test -x /bin/promtool && test -f /etc/prometheus/prometheus.yml && test $(pwd) = /prometheus"
        " && test $(stat -c %u /prometheus) = 65534 && command -v wget >/dev/null"
    ),
}
IMAGE_SHELL = {"prom/prometheus:v2.42.0": "sh"}


@pytest.mark.parametrize("image", IMAGE_FACTS)
def test_each_image_keeps_the_contract_the_project_relies_on(workshop, image):
    shell = IMAGE_SHELL.get(image, "bash")
    facts = workshop.docker("run", "--rm", "--entrypoint", shell, image, "-c", f"({IMAGE_FACTS[image]}) && echo ok")
    assert facts.endswith("ok")
    if image == "apache/flink-statefun:3.3.0":
        assert workshop.docker("image", "inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", image) in (
            '["/docker-entry-point.sh"] null',
            '["/docker-entry-point.sh"] []',
        )
        unknown = subprocess.run(
            ["docker", "run", "--rm", "-e", "ROLE=nobody", image],
            env=workshop.environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert unknown.returncode == 1 and "unknown role" in (unknown.stdout + unknown.stderr).lower()
    if image == "haproxy:2.6.12":
        assert (
            workshop.docker("image", "inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", image)
            == '["docker-entrypoint.sh"] ["haproxy","-f","/usr/local/etc/haproxy/haproxy.cfg"]'
        )
        assert workshop.docker("image", "inspect", "-f", "{{.Config.StopSignal}}", image) == "SIGUSR1"
        assert workshop.docker("run", "--rm", image, "-v").startswith("HAProxy version 2.6.12")  # "-v": haproxy -v
    if image == "prom/prometheus:v2.42.0":
        assert workshop.docker("image", "inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", image) == (
            '["/bin/prometheus"] ["--config.file=/etc/prometheus/prometheus.yml","--storage.tsdb.path=/prometheus",'
            '"--web.console.libraries=/usr/share/prometheus/console_libraries",'
            '"--web.console.templates=/usr/share/prometheus/consoles"]'
        )
        assert workshop.docker("image", "inspect", "-f", "{{json .Config.Volumes}}", image) == '{"/prometheus":{}}'
    if image == "apache/kafka:3.9.2":
        assert (
            workshop.docker("image", "inspect", "-f", "{{json .Config.Cmd}} {{json .Config.Volumes}}", image)
            == '["/etc/kafka/docker/run"] {"/etc/kafka/secrets":{},"/mnt/shared/config":{},"/var/lib/kafka/data":{}}'
        )


# --- the tests, in the order a workshop goes ---------------------------------------------------


def test_compose_up_starts_the_workshop_and_the_simulator_prints_alerts(workshop):
    started = time.monotonic()
    workshop.compose("up", "-d", timeout=START_TIMEOUT)
    wait_for(  # raises at the deadline
        "a 'Suspected Fraud' line in `docker compose logs simulator`",
        lambda: "Suspected Fraud for account id" in workshop.log("simulator"),
        ALERT_TIMEOUT,
        interval=2,
    )
    print(f"\ndocker compose up -d to the first alert line: {time.monotonic() - started:.0f} s")
    assert "on uvloop, protobuf upb" in workshop.log("python-worker")  # the image installs the fast worker
    with urllib.request.urlopen("http://127.0.0.1:8001/", timeout=10) as page:  # the web UI
        assert page.status == 200 and b"<html" in page.read().lower()
    published = workshop.compose("ps", "--format", "{{.Ports}}")
    for binding in (part.strip() for part in published.replace("\n", ",").split(",") if "->" in part):
        assert binding.startswith("127.0.0.1:"), f"a port published beyond 127.0.0.1: {binding}"


def targets_up() -> dict[str, int]:
    """Prometheus's scrape targets that are up, counted per job."""
    up: dict[str, int] = {}
    for target in prometheus("/api/v1/targets")["activeTargets"]:
        if target["health"] == "up":
            up[target["labels"]["job"]] = up.get(target["labels"]["job"], 0) + 1
    return up


WATCHED = (
    "workshop:alerts_out:rate1m",
    "workshop:invocation_latency_ms:p99",
    "workshop:checkpoint_duration_seconds:last",
)


def test_prometheus_scrapes_flink_each_python_worker_and_the_balancer(workshop):
    expected = {"flink-master": 1, "flink-worker": 1, "python-worker": 1, "python-worker-lb": 1, "prometheus": 1}
    wait_for("every scrape target up", lambda: targets_up() == expected, 90, interval=2)
    for rule in WATCHED:  # the simulator's traffic, through the recording rules
        wait_for(
            f"{rule} to have a value",
            lambda rule=rule: prometheus("/api/v1/query", query=rule)["result"],
            60,
            interval=2,
        )
    assert prometheus("/api/v1/query", query="haproxy_backend_active_servers")["result"]


def test_the_live_page_shows_the_alerts_and_sends_a_threshold_in_a_browser(workshop):
    """README "See the fraud", with Docker: the dashboard service's page in Chromium."""
    opened = chromium()
    try:
        opened.get(PAGE)
        rows = poll("alerts on the live page", lambda: opened.find_elements(By.CSS_SELECTOR, "tr.alert"), ALERT_TIMEOUT)
        holder = rows[0].get_attribute("data-account")
        poll("the job's state", lambda: opened.find_element(By.ID, "job-state").text == "RUNNING", 30)
        opened.find_element(By.ID, "account").send_keys(holder)
        opened.find_element(By.ID, "set-threshold").click()
        said = f"{holder}: threshold 5 sent"
        poll("the page's answer", lambda: opened.find_element(By.ID, "message").text == said, 30)
        keep_screenshot(opened, "live-page-docker.png")
    finally:
        opened.quit()


def test_module_settings_reach_the_runtimes_module_yaml_and_a_bad_value_stops_it_first(workshop):
    """ALERT_DELIVERY and CALL_TIMEOUT as compose passes them to the runtime's entry point (run
    as the image's user; ROLE=nobody then stops the image's own entry point at once, after ours
    has run)."""

    def entry_point(**settings: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", "compose", "run", "--rm", "--no-deps", "-e", "ROLE=nobody", "worker"],
            cwd=workshop.folder,
            env={**workshop.environment, **settings},
            capture_output=True,
            text=True,
            timeout=120,
        )

    chosen = entry_point(ALERT_DELIVERY="at-least-once", CALL_TIMEOUT="30min")
    output = chosen.stdout + chosen.stderr
    assert "Alerts and dead letters are delivered at-least-once (ALERT_DELIVERY)." in output
    assert "Calls to the functions may take 30min (CALL_TIMEOUT)" in output
    assert "unknown role" in output.lower()  # and then the image's entry point ran
    for settings, message in (
        ({"ALERT_DELIVERY": "exactly_once"}, "ALERT_DELIVERY=exactly_once is not a delivery: use exactly-once"),
        ({"CALL_TIMEOUT": "2h"}, "CALL_TIMEOUT=2h is not a call timeout: use whole seconds or minutes up to an hour"),
    ):
        refused = entry_point(**settings)
        output = refused.stdout + refused.stderr
        assert refused.returncode == 64, output
        assert message in output
        assert "unknown role" not in output.lower()


def test_a_crashed_taskmanager_is_restarted_by_its_policy_and_alerts_stay_exactly_once(workshop, producer, alerts):
    wait_for("the job to run", running_job, 120)
    failures, restarts = job_failures(), int(workshop.inspect("worker", "{{.RestartCount}}"))
    traffic, sent = steady_traffic(producer, "crash", 20 * RATE)
    time.sleep(7)
    workshop.crash("worker")
    traffic.join()
    wait_for(
        "the worker container to be restarted by its policy",
        lambda: int(workshop.inspect("worker", "{{.RestartCount}}")) > restarts,
        60,
    )
    assert_each_alerted_once(alerts, "crash", sent, RECOVERY_TIMEOUT)
    assert job_failures() > failures  # the job restarted from its latest checkpoint


def test_the_savepoint_exercise_as_the_readme_tells_it(workshop, producer, alerts):
    confirmed, custom = account("docker-saved-fraud"), account("docker-saved-threshold")
    producer.send(kafka_topics.CONFIRMED, confirmed, ConfirmFraud(account=confirmed).SerializeToString())
    producer.send(kafka_topics.THRESHOLDS, custom, CustomThreshold(account=custom, threshold=12).SerializeToString())
    producer.flush()
    calm = Transaction(account=confirmed, merchant=merchant_scoring(4, 10), amount=0)
    settle_all(producer, alerts, {"docker-saved-fraud": (calm, score(calm, fraud_count=1))})
    probe_threshold(producer, alerts, custom, 12)

    # 2's advice first: the traffic stopped and drained, so nothing is processed after the
    # savepoint (what is would be read again after the restore, and alert twice)
    workshop.compose("stop", "simulator")
    wait_for("the job to have read every transaction", lambda: transactions_lag() == 0, 60)
    alerts.read_until_quiet(QUIET_SECONDS / 3, ALERT_TIMEOUT)

    # 1-2: the job id and the savepoint, with curl as in the README
    name = take_savepoint(workshop)
    before = set(alerted(alerts.records, ""))

    # 3-4: stop everything, start from the savepoint
    workshop.compose("down")
    workshop.compose("up", "-d", settings={"SAVEPOINT": f"savepoint-dir/{name}"}, timeout=START_TIMEOUT)
    wait_for("the job to run again", running_job, 180)
    assert f"from savepoint /savepoint-dir/{name}" in workshop.log("master")

    after = account("docker-after-restore")
    send_transaction(producer, after, calm)
    producer.flush()
    probe_threshold(producer, alerts, custom, 12)  # the custom threshold survived
    records = alerts.read_until("the alert after the restore", lambda rs: after in alerted(rs, ""), ALERT_TIMEOUT)
    scores = {Alert.FromString(r.value).transaction_id: Alert.FromString(r.value).score for r in records}
    assert scores[after] == score(calm, fraud_count=1)  # the fraud count survived
    ids = alerted(alerts.read_for(QUIET_SECONDS), "")
    print(
        f"\nsavepoint {name}: {len(before)} alerts before, {len(ids) - len(before)} after the restore, "
        f"duplicates {len(ids) - len(set(ids))}"
    )
    assert len(ids) == len(set(ids)), "a transaction was scored again after the restore"


def test_state_lasts_through_down_up_and_a_recreated_master(workshop, producer, alerts):
    """README "State lasts", with Docker: no SAVEPOINT, and the counts and thresholds come back
    after an `up -d` with another CALL_TIMEOUT (which recreates master and worker), and after
    kill -9 of both Flink processes; transactions sent just before each alert exactly once, the
    simulator's traffic running throughout."""
    counted, strict = account("docker-lasting-counted"), account("docker-lasting-strict")
    for _ in range(2):
        producer.send(kafka_topics.CONFIRMED, counted, ConfirmFraud(account=counted).SerializeToString())
    producer.send(kafka_topics.THRESHOLDS, strict, CustomThreshold(account=strict, threshold=13).SerializeToString())
    producer.flush()
    calm = Transaction(account=counted, merchant=merchant_scoring(4, 10), amount=0)
    in_flight: list[str] = []

    def state_is(stage: str) -> None:
        settle_all(producer, alerts, {f"docker-lasting-{stage}": (calm, score(calm, fraud_count=2))})
        probe_threshold(producer, alerts, strict, 13)

    def state_is_back(stage: str) -> None:
        wait_for("the job to run again", running_job, 180)
        said = [line for line in workshop.log("master").splitlines() if "last-state: " in line]
        assert said and "last-state: resuming the newest completed checkpoint" in said[-1], said[-1:]
        state_is(stage)

    def send_in_flight(tag: str) -> None:
        traffic, sent = steady_traffic(producer, tag, 2 * RATE)
        traffic.join()
        in_flight.extend(sent)

    # A plain `down` and `up -d` resumes too: every exercise starts that way
    # (test_exercises_with_docker.py), so this test spends its restarts on the other starts.
    state_is("before")
    send_in_flight("lasting-timeout")
    workshop.compose("up", "-d", settings={"CALL_TIMEOUT": "3min"}, timeout=START_TIMEOUT)  # recreates master
    state_is_back("call-timeout")

    send_in_flight("lasting-kill")
    workshop.crash("master")
    workshop.crash("worker")
    workshop.compose("up", "-d", timeout=START_TIMEOUT)  # CALL_TIMEOUT unset again: recreated too
    state_is_back("kill-9")

    for tag in ("lasting-timeout", "lasting-kill"):
        assert_each_alerted_once(alerts, tag, [t for t in in_flight if f"{tag}-" in t], ALERT_TIMEOUT)


def test_an_edit_of_main_py_and_a_restart_of_python_worker_lose_and_duplicate_nothing(workshop, producer, alerts):
    wait_for("the job to run", running_job, 120)
    failures = job_failures()
    worker_log_before, balancer_log_before = len(workshop.log("worker")), len(workshop.log("python-worker-lb"))
    # The README's "Change the model" in its bluntest form: every score becomes 100.
    edit(
        workshop.folder / "statefun-functions" / "main.py",
        "    return min(100, round(history + merchant_risk + amount_risk))\n",
        "    return 100\n",
    )
    traffic, sent = steady_traffic(producer, "restart", 10 * RATE)
    time.sleep(2)
    workshop.compose("restart", "python-worker")
    traffic.join()
    assert_each_alerted_once(alerts, "restart", sent, ALERT_TIMEOUT)
    assert job_failures() == failures  # the runtime retried; the job did not restart
    # The calls in flight met the restart: python-worker-lb retried them (it logs only calls
    # it retried or failed), or, for a longer absence, the runtime did (NettyRequest).
    retried_by_balancer = '"POST /statefun' in workshop.log("python-worker-lb")[balancer_log_before:]
    assert retried_by_balancer or "NettyRequest" in workshop.log("worker")[worker_log_before:]

    calm = Transaction(account=account("edited"), merchant=merchant_scoring(4, 10), amount=0)
    assert score(calm) < 100
    probe = account("after-the-edit")
    send_transaction(producer, probe, calm)
    producer.flush()
    records = alerts.read_until("the probe's alert", lambda rs: probe in alerted(rs, probe), ALERT_TIMEOUT)
    assert (
        next(Alert.FromString(r.value).score for r in records if Alert.FromString(r.value).transaction_id == probe)
        == 100
    )  # the edited model ran


def test_scaled_out_from_a_savepoint_a_lost_python_worker_replica_loses_and_duplicates_nothing(
    workshop, producer, alerts
):
    """docs/beyond-one-machine.md: parallelism 2 on two TaskManagers, two python-worker
    replicas behind python-worker-lb; one replica is killed under traffic."""
    # As the guide says: the traffic stopped and drained first, or what the job finishes
    # between the savepoint and the restart is read again and alerts twice (`up` starts it again).
    workshop.compose("stop", "simulator")
    wait_for("the job to have read every transaction", lambda: transactions_lag() == 0, 60)
    alerts.read_until_quiet(QUIET_SECONDS / 3, ALERT_TIMEOUT)
    scaled = {"SAVEPOINT": f"savepoint-dir/{take_savepoint(workshop)}", "PARALLELISM": "2"}
    workshop.compose("up", "-d", "--scale", "python-worker=2", settings=scaled, timeout=START_TIMEOUT)
    wait_for("the job to run at parallelism 2", lambda: running_at(2), 180)
    wait_for("two TaskManagers registered", lambda: len(rest("/taskmanagers")["taskmanagers"]) == 2, 60)
    assert f"from savepoint /{scaled['SAVEPOINT']}" in workshop.log("master")
    wait_for("python-worker-lb to see both replicas up", lambda: replicas_up() == 2, 60)
    # Prometheus reaches each replica and each TaskManager itself, by Docker's DNS.
    wait_for(
        "Prometheus to scrape both python-worker replicas and both TaskManagers",
        lambda: (targets_up().get("python-worker"), targets_up().get("flink-worker")) == (2, 2),
        60,
        interval=2,
    )
    failures, served_before = job_failures(), requests_per_replica()

    traffic, sent = steady_traffic(producer, "replicas", 20 * RATE)
    time.sleep(7)
    workshop.crash("python-worker", replica=2)
    traffic.join()
    assert_each_alerted_once(alerts, "replicas", sent, ALERT_TIMEOUT)
    assert job_failures() == failures  # the balancer and the runtime's retries absorbed the loss
    assert int(workshop.inspect("python-worker", "{{.RestartCount}}", replica=2)) > 0

    served = {slot: count - served_before.get(slot, 0) for slot, count in requests_per_replica().items()}
    print(f"\nrequests per python-worker replica slot during the traffic: {served}")
    busy = sorted(served.values(), reverse=True)
    assert busy[1] > 0, f"only one replica served calls: {served}"
    assert busy[1] > busy[0] / 4, f"the calls are not spread over the replicas: {served}"


def host_worker(bridge: str, log) -> subprocess.Popen:
    """python-worker as README "Debug a function" starts it on the host for the Docker mode: the
    checked-in launch configuration's program, folder and settings, on this engine's bridge
    address. (The repository's main.py, not the workshop copy's, which an earlier test edited.)"""
    configuration = launch_configuration(DOCKER)
    settings = {**configuration["env"], **ENVIRONMENT, "BIND_ADDRESS": bridge}
    with log.open("w") as output:  # a file, not a pipe: nobody reads it until the end
        return subprocess.Popen(
            [str(resolve(configuration["python"])), str(resolve(configuration["program"]))],
            cwd=resolve(configuration["cwd"]),
            env={"PATH": "/usr/bin:/bin", **settings},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def answers(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.read().decode()
    except OSError:
        return None


def invocations(metrics_page: str) -> float:
    return total(metrics_page, "python_worker_invocation_seconds_count")


def test_a_python_worker_on_the_host_serves_the_runtime_and_may_pause_past_the_call_timeout(
    workshop, producer, alerts, tmp_path
):
    """README "Debug a function" with Docker: PYTHON_WORKER=host sends the runtime's calls to a
    python-worker on the host, with the merchant service's real scores; CALL_TIMEOUT lets it
    stop (SIGSTOP, as a debugger holds it at a breakpoint) past the default call timeout
    without a failed call or a job restart. (The last test before `down`: it leaves the
    workshop on the host's worker.)"""
    bridge = workshop.docker("network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}")
    # An empty answer would bind the worker to 127.0.0.1, out of the containers' reach.
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bridge), (
        f"the bridge network has no gateway address ({bridge!r}): {workshop.docker('network', 'inspect', 'bridge')}"
    )
    worker = host_worker(bridge, tmp_path / "python-worker.log")
    try:
        wait_for("the host's python-worker to answer", lambda: answers(f"http://{bridge}:8010/health"), 30)
        workshop.compose("up", "-d", settings={"PYTHON_WORKER": "host", "CALL_TIMEOUT": "3min"}, timeout=START_TIMEOUT)
        wait_for("the job to run with CALL_TIMEOUT", running_job, 180)
        assert "Calls to the functions may take 3min (CALL_TIMEOUT)" in workshop.log("worker")
        failures = job_failures()

        risky = Transaction(account=account("on-host"), merchant=merchant_scoring(90, 100), amount=2000)
        served = {account(f"on-host-{n}"): score(risky) for n in range(5)}
        for transaction_id in served:
            send_transaction(producer, transaction_id, risky)
        producer.flush()
        records = alerts.read_until("the host's alerts", lambda rs: set(served) <= set(alerted(rs, "on-host-")), 180)
        scores = {Alert.FromString(r.value).transaction_id: Alert.FromString(r.value).score for r in records}
        assert {i: scores[i] for i in served} == served  # the merchant service's scores, not the fallback's
        assert invocations(answers(f"http://{bridge}:8010/metrics")) >= 5 * 4  # the calls came to this process

        worker.send_signal(signal.SIGSTOP)
        try:
            traffic, sent = steady_traffic(producer, "paused", 20)
            traffic.join()
            time.sleep(PAUSE_SECONDS)  # the breakpoint, held: the runtime's calls wait
        finally:
            worker.send_signal(signal.SIGCONT)
        assert_each_alerted_once(alerts, "paused", sent, ALERT_TIMEOUT)
        assert_each_alerted_once(alerts, "on-host", list(served), QUIET_SECONDS)
        assert job_failures() == failures, "the job failed and restarted while python-worker was paused"
    finally:
        worker.send_signal(signal.SIGCONT)
        worker.terminate()
        worker.wait(timeout=30)
    assert "fallback" not in (tmp_path / "python-worker.log").read_text()


def test_compose_down_v_leaves_no_container_volume_or_listener(workshop, producer, alerts):
    workshop.compose("down", "-v")
    assert workshop.leftovers() == []
    for port in HOST_PORTS:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on 127.0.0.1:{port}"
