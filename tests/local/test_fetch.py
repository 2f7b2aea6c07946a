"""local/fetch.py: the pins in local/pins.toml, and downloads from a real web server on 127.0.0.1
standing in for PyPI and Maven Central. Every test has a cache of its own ($WORKSHOP_CACHE)."""

import hashlib
import http.server
import io
import re
import tarfile
import threading
import tomllib
from pathlib import Path

import pytest

import fetch


class Mirror:
    """A web server with files at paths. A path in `cuts` gets, on its next requests, only that
    many bytes of its file (under the whole file's Content-Length) before the connection ends."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cuts: dict[str, list[int]] = {}
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                body = mirror.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                cuts = mirror.cuts.get(self.path)
                sent = cuts.pop(0) if cuts else len(body)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:sent])
                self.close_connection = True

            def log_message(self, format, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "Mirror":
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_in(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """A cache of the test's own, no real registry (port 9 refuses), no pause between attempts."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("WORKSHOP_CACHE", str(folder))
    monkeypatch.setenv("MAVEN_REPO_URL", "http://127.0.0.1:9/maven2")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(fetch, "RETRY_PAUSE_SECONDS", 0)
    return folder


@pytest.fixture
def mirror():
    with Mirror() as server:
        yield server


JAR = b"PK\x03\x04 a pinned jar's bytes\n" * 2000


def jar_target(cache: Path) -> fetch.Target:
    return fetch.Target(cache / "lib" / "a.jar", len(JAR), sha256(JAR))


# --- one download -----------------------------------------------------------------------------


def test_a_download_with_the_pinned_bytes_takes_its_place(mirror, cache):
    mirror.files["/a.jar"] = JAR
    fetch.download(f"{mirror.url}/a.jar", jar_target(cache))
    assert (cache / "lib" / "a.jar").read_bytes() == JAR
    assert files_in(cache) == ["lib/a.jar"]


def test_a_download_whose_bytes_do_not_match_the_pinned_sha256_is_refused_and_leaves_nothing(mirror, cache):
    other = JAR.replace(b"pinned", b"forged")
    assert len(other) == len(JAR)
    mirror.files["/a.jar"] = other
    with pytest.raises(SystemExit) as refused:
        fetch.download(f"{mirror.url}/a.jar", jar_target(cache))
    message = str(refused.value)
    assert "SHA-256 mismatch" in message and "nothing kept" in message
    assert f"expected {sha256(JAR)}" in message and f"got      {sha256(other)}" in message
    assert files_in(cache) == []
    assert mirror.requests == ["/a.jar"]  # the same wrong bytes would come again: no second attempt


def test_a_cut_download_is_tried_again_then_refused_and_leaves_nothing(mirror, cache):
    mirror.files["/a.jar"] = JAR
    mirror.cuts["/a.jar"] = [len(JAR) // 2] * 3
    with pytest.raises(SystemExit) as refused:
        fetch.download(f"{mirror.url}/a.jar", jar_target(cache), attempts=3)
    assert str(refused.value) == (
        f"could not download {mirror.url}/a.jar: cut short: {len(JAR) // 2:,} of the pinned {len(JAR):,} bytes arrived"
    )
    assert mirror.requests == ["/a.jar"] * 3
    assert files_in(cache) == []


def test_a_download_cut_once_is_complete_on_the_next_attempt(mirror, cache):
    mirror.files["/a.jar"] = JAR
    mirror.cuts["/a.jar"] = [1000]
    fetch.download(f"{mirror.url}/a.jar", jar_target(cache))
    assert mirror.requests == ["/a.jar"] * 2
    assert (cache / "lib" / "a.jar").read_bytes() == JAR
    assert files_in(cache) == ["lib/a.jar"]


def test_a_download_larger_than_pinned_is_refused_and_leaves_nothing(mirror, cache):
    mirror.files["/a.jar"] = JAR + b"more"
    with pytest.raises(SystemExit, match="larger than the pinned"):
        fetch.download(f"{mirror.url}/a.jar", jar_target(cache))
    assert files_in(cache) == []


def test_a_file_the_server_does_not_have_is_refused_and_leaves_nothing(mirror, cache):
    with pytest.raises(SystemExit, match="could not download .*404"):
        fetch.download(f"{mirror.url}/a.jar", jar_target(cache), attempts=2)
    assert files_in(cache) == []


# --- the pins ---------------------------------------------------------------------------------


def pin_lists(data: dict) -> dict[str, list]:
    return {
        f"{section}.{key}": entries
        for section, table in data.items()
        for key, entries in table.items()
        if isinstance(entries, list)
    }


def test_the_pins_file_is_well_formed():
    data = tomllib.loads(fetch.PINS_FILE.read_text())
    lists = pin_lists(data)
    assert set(lists) == {
        "flink.files",
        "flink.image_files",
        "statefun.jars",
        "statefun.image_jars",
        "kafka.jars",
    }
    sdists = [data["flink"]["sdist"], data["flink"]["scripts_sdist"]]
    for name, entries in [*lists.items(), ("flink sdists", sdists)]:
        assert entries, name
        for entry in entries:
            label = entry.get("path") or entry.get("project")
            assert isinstance(label, str) and label.strip(), (name, entry)
            assert type(entry["size"]) is int and entry["size"] > 0, (name, entry)
            assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), (name, entry)
    for jar in [entry["path"] for key, entries in lists.items() if key.endswith("jars") for entry in entries]:
        assert re.fullmatch(r"[\w.{}-]+(/[\w.{}-]+)+\.jar", jar), jar  # a Maven repository path

    targets = [target.dest for target in fetch.flink_targets()]
    targets += [target.dest for _, target in fetch.maven_targets()]
    targets += [
        fetch.sdist_target(fetch.PINS.flink_sdist).dest,
        fetch.sdist_target(fetch.PINS.flink_scripts_sdist).dest,
    ]
    duplicates = sorted({str(dest) for dest in targets if targets.count(dest) > 1})
    assert not duplicates, duplicates
    assert len(targets) == sum(len(entries) for entries in lists.values()) + 2


def test_each_version_is_stated_once_in_the_pins_and_nowhere_in_the_downloader():
    pins_text = fetch.PINS_FILE.read_text()
    fetch_text = Path(fetch.__file__).read_text()
    for version in (fetch.PINS.flink_version, fetch.PINS.statefun_version, fetch.PINS.kafka_version):
        alone = re.compile(rf"(?<![\w.]){re.escape(version)}(?![\w.])")
        assert len(alone.findall(pins_text)) == 1, version
        assert not alone.findall(fetch_text), version
    paths = [path for path, _, _ in fetch.PINS.kafka_jars]
    assert f"org/apache/kafka/kafka_2.13/{fetch.PINS.kafka_version}/kafka_2.13-{fetch.PINS.kafka_version}.jar" in paths


def test_a_malformed_pin_is_refused_naming_it(tmp_path):
    text = fetch.PINS_FILE.read_text()
    first_kafka_sha = re.search(r'sha256 = "([0-9a-f]{64})"', text[text.index("[kafka]") :]).group(1)
    broken = tmp_path / "pins.toml"
    broken.write_text(text.replace(first_kafka_sha, first_kafka_sha[:60]))
    with pytest.raises(SystemExit, match=r"kafka\.jars\[0\]: the sha256 must be 64 lowercase hex digits"):
        fetch.load_pins(broken)


# --- the whole fetch, from the stand-in registries ----------------------------------------------


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pin(path: str, data: bytes) -> str:
    return f'{{ path = "{path}", size = {len(data)}, sha256 = "{sha256(data)}" }}'


@pytest.fixture
def small_pins(mirror, tmp_path, monkeypatch) -> dict[str, bytes]:
    """Pins of a few small files of made-up versions, served by the mirror as PyPI's simple index
    and Maven Central ($PIP_INDEX_URL, $MAVEN_REPO_URL). Returns each file's bytes, by cache path."""
    dist, cep = b"flink-dist" * 500, b"flink-cep" * 300
    config_sh, log4j = b"#!/usr/bin/env bash\n", b"rootLogger.level = INFO\n"
    statefun, core, kafka = b"statefun" * 400, b"statefun-core" * 100, b"kafka-clients" * 200
    libraries = tar_gz(
        {
            "apache-flink-libraries-9.1.0/deps/lib/flink-dist-9.1.0.jar": dist,
            "apache-flink-libraries-9.1.0/deps/lib/flink-cep-9.1.0.jar": cep,
            "apache-flink-libraries-9.1.0/deps/opt/not-pinned.jar": b"left in the sdist",
        }
    )
    scripts = tar_gz(
        {"apache-flink-9.1.0/deps/bin/config.sh": config_sh, "apache-flink-9.1.0/deps/conf/log4j.properties": log4j}
    )
    statefun_path = "org/apache/flink/statefun-flink-distribution/9.2.0/statefun-flink-distribution-9.2.0.jar"
    core_path = "org/apache/flink/statefun-flink-core/9.2.0/statefun-flink-core-9.2.0.jar"
    kafka_path = "org/apache/kafka/kafka-clients/9.3.0/kafka-clients-9.3.0.jar"
    pins = tmp_path / "pins.toml"
    pins.write_text(
        f"""
[flink]
version = "9.1.0"
sdist = {{ project = "apache-flink-libraries", size = {len(libraries)}, sha256 = "{sha256(libraries)}" }}
files = [{pin("lib/flink-dist-{flink}.jar", dist)}]
image_files = [{pin("lib/flink-cep-{flink}.jar", cep)}]
scripts_sdist = {{ project = "apache-flink", size = {len(scripts)}, sha256 = "{sha256(scripts)}" }}

[statefun]
version = "9.2.0"
jars = [{pin(statefun_path.replace("9.2.0", "{statefun}"), statefun)}]
image_jars = [{pin(core_path.replace("9.2.0", "{statefun}"), core)}]

[kafka]
version = "9.3.0"
jars = [{pin(kafka_path.replace("9.3.0", "{kafka}"), kafka)}]
"""
    )
    monkeypatch.setattr(fetch, "PINS", fetch.load_pins(pins))
    for project, sdist in [("apache-flink-libraries", libraries), ("apache-flink", scripts)]:
        filename = f"{project}-9.1.0.tar.gz"
        mirror.files[f"/files/{filename}"] = sdist
        link = f'<a href="../../files/{filename}#sha256={sha256(sdist)}">{filename}</a>'
        mirror.files[f"/simple/{project}/"] = f"<html><body>{link}</body></html>".encode()
    for path, data in [(statefun_path, statefun), (core_path, core), (kafka_path, kafka)]:
        mirror.files[f"/maven2/{path}"] = data
    monkeypatch.setenv("PIP_INDEX_URL", f"{mirror.url}/simple/")
    monkeypatch.setenv("MAVEN_REPO_URL", f"{mirror.url}/maven2")
    return {
        "flink-9.1.0/lib/flink-dist-9.1.0.jar": dist,
        "flink-9.1.0/image/lib/flink-cep-9.1.0.jar": cep,
        "flink-9.1.0/image/bin/config.sh": config_sh,
        "flink-9.1.0/image/conf/log4j.properties": log4j,
        "flink-9.1.0/lib/statefun-flink-distribution-9.2.0.jar": statefun,
        "flink-9.1.0/image/lib/statefun-flink-core-9.2.0.jar": core,
        "kafka-9.3.0/libs/kafka-clients-9.3.0.jar": kafka,
    }


def test_everything_pinned_is_fetched_once_and_verify_rehashes_it(small_pins, mirror, cache, capsys):
    fetch.main([])
    assert capsys.readouterr().out.splitlines() == [
        f"Flink 9.1.0 + StateFun 9.2.0: {cache}/flink-9.1.0/lib",
        f"Kafka 9.3.0: {cache}/kafka-9.3.0/libs",
    ]
    for path, data in small_pins.items():
        assert (cache / path).read_bytes() == data, path
    # The big sdist goes once its files are out; the scripts' one stays (its unpacking is not pinned).
    assert files_in(cache) == sorted(
        [*small_pins, "downloads/apache-flink-9.1.0.tar.gz", "flink-9.1.0/image/.scripts-unpacked"]
    )
    assert (cache / "flink-9.1.0/image/bin/config.sh").stat().st_mode & 0o777 == 0o755

    requests = len(mirror.requests)
    fetch.main([])
    assert len(mirror.requests) == requests, "a second run downloads nothing"

    # Same sizes, other bytes: only --verify notices, and fetches those two again.
    for path in ("kafka-9.3.0/libs/kafka-clients-9.3.0.jar", "flink-9.1.0/lib/flink-dist-9.1.0.jar"):
        corrupted = bytearray(small_pins[path])
        corrupted[:4] = b"XXXX"
        (cache / path).write_bytes(corrupted)
    fetch.main([])
    assert len(mirror.requests) == requests
    fetch.main(["--verify"])
    again = mirror.requests[requests:]
    assert "/maven2/org/apache/kafka/kafka-clients/9.3.0/kafka-clients-9.3.0.jar" in again
    assert "/files/apache-flink-libraries-9.1.0.tar.gz" in again
    assert not any("statefun" in request for request in again)
    for path, data in small_pins.items():
        assert (cache / path).read_bytes() == data, path


def test_a_registry_serving_other_bytes_than_pinned_stops_the_fetch_and_leaves_no_trace(small_pins, mirror, cache):
    kafka_jar = "/maven2/org/apache/kafka/kafka-clients/9.3.0/kafka-clients-9.3.0.jar"
    mirror.files[kafka_jar] = mirror.files[kafka_jar].upper()
    with pytest.raises(SystemExit, match=f"SHA-256 mismatch for {re.escape(mirror.url + kafka_jar)}"):
        fetch.ensure_all()
    assert not any(path.startswith("kafka-9.3.0/") for path in files_in(cache)), files_in(cache)
    assert not any(path.endswith(".part") for path in files_in(cache)), files_in(cache)
