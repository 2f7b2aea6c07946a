#!/usr/bin/env python3
"""Download and cache the JVM parts of the Docker-free workshop runtime.

Stdlib only (Python 3.11). What is fetched is pinned in local/pins.toml, beside this file: the
Flink, StateFun and Kafka versions (F, S and K below; stated there once) and every file's size
and SHA-256. Everything lands in one cache folder, $WORKSHOP_CACHE (default
~/.cache/statefun-workshop):

    flink-F/lib/      flink-dist, log4j, zookeeper + statefun-flink-distribution S
    flink-F/bin/      bash-java-utils.jar (computes the JVM memory flags, as taskmanager.sh does)
    flink-F/plugins/metrics-prometheus/   Flink's Prometheus reporter
    flink-F/image/    what only the Docker stand-in of apache/flink-statefun:S needs
                      (docker/ready.py): the rest of Flink's lib/, Flink's bin/ scripts and
                      conf/, statefun-flink-core.jar and the netty-tcnative jar of Flink's opt/
    kafka-K/libs/     the Kafka broker and its runtime dependencies

Sources (all registries reachable from the workshop machines):
  * Flink F: PyPI's `apache-flink-libraries==F` sdist, which carries Flink's lib/ (there is
    no Flink binary tarball on a package registry). Found through the simple index
    ($PIP_INDEX_URL, default https://pypi.org/simple); only the pinned files are kept.
  * Flink F's bin/ scripts and conf/: PyPI's `apache-flink==F` sdist (1.2 MB).
  * StateFun S and Kafka K: Maven Central ($MAVEN_REPO_URL, default
    https://repo.maven.apache.org/maven2), as direct downloads of a pinned jar list
    (generated once from local/kafka-pom.xml; see local/NOTES.md).

Every file is checked against its pinned size and SHA-256 right after download, before it
takes its place; a download that is cut short or does not match leaves nothing behind.
Later runs only check that each file is present with its pinned size; `--verify` re-hashes all.

Usage:  python local/fetch.py [--verify]
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import http.client
import os
import re
import shutil
import sys
import tarfile
import time
import tomllib
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PINS_FILE = Path(__file__).with_name("pins.toml")

# A pinned file: (its path, size in bytes, sha256). The path is under an sdist's deps/ (and the
# cache's flink-F/) for Flink's files, a Maven repository path for the jars.
Pin = tuple[str, int, str]


@dataclass(frozen=True)
class Sdist:
    """A PyPI source distribution of Flink's, found through the simple index."""

    project: str
    version: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.project}-{self.version}.tar.gz"

    @property
    def root(self) -> str:
        """Where Flink's distribution starts inside it."""
        return f"{self.project}-{self.version}/deps/"


@dataclass(frozen=True)
class Pins:
    """local/pins.toml, with the versions put into the paths."""

    flink_version: str
    statefun_version: str
    kafka_version: str
    flink_sdist: Sdist
    flink_files: list[Pin]
    flink_image_files: list[Pin]
    flink_scripts_sdist: Sdist
    statefun_jars: list[Pin]
    image_jars: list[Pin]
    kafka_jars: list[Pin]


SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def load_pins(path: Path = PINS_FILE) -> Pins:
    """Reads and checks the pins: a malformed entry stops everything, naming itself."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    try:
        versions = {name: data[name]["version"] for name in ("flink", "statefun", "kafka")}
    except KeyError as missing:
        raise SystemExit(f"{path}: no {missing} version") from None

    def checked(where: str, entry: dict, keys: set[str]) -> dict:
        if set(entry) != keys:
            raise SystemExit(f"{path}: {where} has {sorted(entry)}, not {sorted(keys)}")
        if not isinstance(entry["size"], int) or entry["size"] <= 0:
            raise SystemExit(f"{path}: {where}: the size must be a number of bytes, not {entry['size']!r}")
        if not isinstance(entry["sha256"], str) or not SHA256_HEX.fullmatch(entry["sha256"]):
            raise SystemExit(f"{path}: {where}: the sha256 must be 64 lowercase hex digits, not {entry['sha256']!r}")
        return entry

    def pins(section: str, key: str) -> list[Pin]:
        result = []
        for number, entry in enumerate(data[section][key]):
            entry = checked(f"{section}.{key}[{number}]", entry, {"path", "size", "sha256"})
            try:
                file = entry["path"].format_map(versions)
            except (KeyError, ValueError) as error:
                raise SystemExit(f"{path}: {section}.{key}[{number}]: {entry['path']!r}: {error!r}") from None
            result.append((file, entry["size"], entry["sha256"]))
        return result

    def sdist(key: str) -> Sdist:
        entry = checked(f"flink.{key}", data["flink"][key], {"project", "size", "sha256"})
        return Sdist(entry["project"], versions["flink"], entry["size"], entry["sha256"])

    return Pins(
        flink_version=versions["flink"],
        statefun_version=versions["statefun"],
        kafka_version=versions["kafka"],
        flink_sdist=sdist("sdist"),
        flink_files=pins("flink", "files"),
        flink_image_files=pins("flink", "image_files"),
        flink_scripts_sdist=sdist("scripts_sdist"),
        statefun_jars=pins("statefun", "jars"),
        image_jars=pins("statefun", "image_jars"),
        kafka_jars=pins("kafka", "jars"),
    )


PINS = load_pins()

# What docker/ready.py reads: the digest of its stand-in images covers the repr of these.
FLINK_FILES = PINS.flink_files
FLINK_IMAGE_FILES = PINS.flink_image_files
STATEFUN_JARS = PINS.statefun_jars
IMAGE_JARS = PINS.image_jars
KAFKA_JARS = PINS.kafka_jars
FLINK_SCRIPTS_SDIST_SHA256 = PINS.flink_scripts_sdist.sha256

# The pause before a second (third) try, times the attempt's number.
RETRY_PAUSE_SECONDS = 2


@dataclass(frozen=True)
class Target:
    """One file the runtime needs: where it goes and what it must hash to."""

    dest: Path
    size: int
    sha256: str
    member: str = ""  # for a file taken out of an sdist: its path under the sdist's deps/


# --- locations --------------------------------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get("WORKSHOP_CACHE", "~/.cache/statefun-workshop")).expanduser()


def flink_home() -> Path:
    return cache_dir() / f"flink-{PINS.flink_version}"


def flink_lib_dir() -> Path:
    return flink_home() / "lib"


def flink_plugins_dir() -> Path:
    """Flink's plugins/ (FLINK_PLUGINS_DIR): the Prometheus reporter."""
    return flink_home() / "plugins"


def bash_java_utils_jar() -> Path:
    return flink_home() / "bin" / "bash-java-utils.jar"


def flink_image_dir() -> Path:
    """Only for the Docker stand-in image: lib/ (extra jars), bin/ and conf/ of Flink."""
    return flink_home() / "image"


def kafka_libs_dir() -> Path:
    return cache_dir() / f"kafka-{PINS.kafka_version}" / "libs"


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def maven_repo_url() -> str:
    return os.environ.get("MAVEN_REPO_URL", "https://repo.maven.apache.org/maven2").rstrip("/")


def pypi_index_url() -> str:
    # pip's own setting, so a mirror configured for pip is used here too.
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def flink_targets() -> list[Target]:
    local = [Target(flink_home() / path, size, sha, path) for path, size, sha in PINS.flink_files]
    image = [Target(flink_image_dir() / path, size, sha, path) for path, size, sha in PINS.flink_image_files]
    return local + image


def maven_targets() -> list[tuple[str, Target]]:
    """(repository path, target) for every jar fetched from Maven."""
    statefun = [(p, Target(flink_lib_dir() / Path(p).name, s, h)) for p, s, h in PINS.statefun_jars]
    image = [(p, Target(flink_image_dir() / "lib" / Path(p).name, s, h)) for p, s, h in PINS.image_jars]
    kafka = [(p, Target(kafka_libs_dir() / Path(p).name, s, h)) for p, s, h in PINS.kafka_jars]
    return statefun + image + kafka


def sdist_target(sdist: Sdist) -> Target:
    return Target(downloads_dir() / sdist.filename, sdist.size, sdist.sha256)


# --- hashing and downloading ------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def is_present(target: Target, verify: bool) -> bool:
    if not target.dest.is_file() or target.dest.stat().st_size != target.size:
        return False
    return not verify or sha256_of(target.dest) == target.sha256


def part_file(dest: Path) -> Path:
    """Where a file is written until it is checked: never where the runtime looks."""
    return dest.with_name(dest.name + ".part")


class Progress:
    """Bytes and percent on one line (a terminal), or every 10 % (a log)."""

    def __init__(self, name: str, total: int):
        self.name, self.total, self.done = name, total, 0
        self.tty = sys.stderr.isatty()
        self.last_decile = -1

    def add(self, n: int) -> None:
        self.done += n
        percent = 100 * self.done // self.total if self.total else 100
        line = f"  {self.name}  {self.done / 1e6:7.1f} / {self.total / 1e6:.1f} MB  {percent:3d}%"
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif percent // 10 > self.last_decile:
            self.last_decile = percent // 10
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def receive(url: str, part: Path, target: Target) -> int:
    """One attempt: the response's bytes into part. Returns how many arrived (a cut connection
    just ends the body early); refuses at once more bytes than pinned."""
    progress = Progress(target.dest.name, target.size)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
            for block in iter(lambda: response.read(1 << 16), b""):
                progress.add(len(block))
                if progress.done > target.size:
                    raise SystemExit(f"refused {url}: it is larger than the pinned {target.size:,} bytes")
                out.write(block)
    finally:
        progress.close()
    return progress.done


def download(url: str, target: Target, attempts: int = 3) -> None:
    """Fetch url into target.dest through a .part file, renamed into place only once it has the
    pinned size and SHA-256. A failure or refusal leaves no .part behind, and target.dest as it was."""
    target.dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_file(target.dest)
    try:
        for attempt in range(1, attempts + 1):
            try:
                received = receive(url, part, target)
            except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, resets
                problem = str(error) or type(error).__name__
            else:
                if received == target.size:
                    break
                problem = f"cut short: {received:,} of the pinned {target.size:,} bytes arrived"
            print(f"  download failed ({problem}); attempt {attempt}/{attempts}", file=sys.stderr)
            if attempt == attempts:
                raise SystemExit(f"could not download {url}: {problem}")
            time.sleep(RETRY_PAUSE_SECONDS * attempt)
        actual = sha256_of(part)
        if actual != target.sha256:
            raise SystemExit(
                f"SHA-256 mismatch for {url}: refused, nothing kept\n  expected {target.sha256}\n  got      {actual}"
            )
        part.replace(target.dest)
    finally:
        part.unlink(missing_ok=True)


# --- PyPI: find the sdist through the simple index (PEP 503) ----------------------------------


class _LinkParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def pypi_file_url(project: str, filename: str) -> str:
    index_page = f"{pypi_index_url()}/{project}/"
    with urllib.request.urlopen(index_page, timeout=60) as response:
        parser = _LinkParser()
        parser.feed(response.read().decode("utf-8"))
    for href in parser.links:
        url = urllib.parse.urljoin(index_page, href)
        if urllib.parse.urlparse(url).path.endswith("/" + filename):
            return url.split("#", 1)[0]
    raise SystemExit(f"{filename} is not listed at {index_page}")


def extract_flink_files(sdist: Path, missing: list[Target]) -> None:
    """Copy the wanted jars out of the sdist (streamed; nothing else is unpacked)."""
    wanted = {PINS.flink_sdist.root + t.member: t for t in missing}
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive:
            target = wanted.get(member.name)
            if target is None:
                continue
            target.dest.parent.mkdir(parents=True, exist_ok=True)
            part = part_file(target.dest)
            try:
                with archive.extractfile(member) as src, part.open("wb") as out:
                    shutil.copyfileobj(src, out)
                if sha256_of(part) != target.sha256:
                    raise SystemExit(f"SHA-256 mismatch for {member.name} inside {sdist.name}")
                part.replace(target.dest)
            finally:
                part.unlink(missing_ok=True)


def ensure_flink(verify: bool) -> int:
    """Returns the number of bytes downloaded."""
    missing = [t for t in flink_targets() if not is_present(t, verify)]
    if not missing:
        return 0
    sdist = PINS.flink_sdist
    print(f"Flink {PINS.flink_version}: {sdist.filename} from {pypi_index_url()}", file=sys.stderr)
    downloaded = sdist_target(sdist)
    if not is_present(downloaded, verify=True):
        download(pypi_file_url(sdist.project, sdist.filename), downloaded)
    extract_flink_files(downloaded.dest, missing)
    # The big sdist is no longer needed: the extracted files are pinned themselves.
    downloaded.dest.unlink()
    return sdist.size


def ensure_flink_scripts(verify: bool) -> int:
    """Flink's bin/ and conf/ from the apache-flink sdist, unpacked into image/ (the sdist stays)."""
    sdist = PINS.flink_scripts_sdist
    downloaded = sdist_target(sdist)
    unpacked = flink_image_dir() / ".scripts-unpacked"
    if is_present(downloaded, verify) and unpacked.is_file():
        return 0
    fetched = 0
    if not is_present(downloaded, verify=True):
        print(f"Flink {PINS.flink_version} scripts: {sdist.filename} from {pypi_index_url()}", file=sys.stderr)
        download(pypi_file_url(sdist.project, sdist.filename), downloaded)
        fetched = sdist.size
    with tarfile.open(downloaded.dest, "r:gz") as archive:
        for member in archive:
            relative = member.name.removeprefix(sdist.root)
            if member.isfile() and relative.split("/")[0] in ("bin", "conf") and relative != member.name:
                dest = flink_image_dir() / relative
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
                dest.chmod(0o755 if relative.startswith("bin/") else 0o644)
    unpacked.touch()
    return fetched


def ensure_maven_jars(verify: bool) -> int:
    missing = [(p, t) for p, t in maven_targets() if not is_present(t, verify)]
    if missing:
        print(f"{len(missing)} jar(s) from {maven_repo_url()}", file=sys.stderr)
    for repo_path, target in missing:
        download(f"{maven_repo_url()}/{repo_path}", target)
    return sum(t.size for _, t in missing)


def remove_unpinned_kafka_jars() -> None:
    """After a version bump, old jars in the same folder would end up on the classpath."""
    pinned = {Path(p).name for p, _, _ in PINS.kafka_jars}
    for jar in kafka_libs_dir().glob("*.jar"):
        if jar.name not in pinned:
            jar.unlink()


def ensure_all(verify: bool = False) -> None:
    started = time.monotonic()
    fetched = ensure_flink(verify) + ensure_flink_scripts(verify) + ensure_maven_jars(verify)
    remove_unpinned_kafka_jars()
    if fetched:
        seconds = time.monotonic() - started
        print(f"Downloaded {fetched / 1e6:.1f} MB in {seconds:.1f} s into {cache_dir()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    versions = f"F={PINS.flink_version}, S={PINS.statefun_version}, K={PINS.kafka_version}"
    parser = argparse.ArgumentParser(
        description=f"{__doc__}\nPinned in {PINS_FILE}: {versions}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--verify", action="store_true", help="re-hash every cached file")
    args = parser.parse_args(argv)
    ensure_all(verify=args.verify)
    print(f"Flink {PINS.flink_version} + StateFun {PINS.statefun_version}: {flink_lib_dir()}")
    print(f"Kafka {PINS.kafka_version}: {kafka_libs_dir()}")


if __name__ == "__main__":
    main()
