#!/usr/bin/env python3
"""Download and cache the JVM parts of the Docker-free workshop runtime.

Stdlib only (Python 3.11). Everything lands in one cache folder,
$WORKSHOP_CACHE (default ~/.cache/statefun-workshop):

    flink-1.16.2/lib/   flink-dist, log4j, zookeeper + statefun-flink-distribution 3.3.0
    flink-1.16.2/bin/   bash-java-utils.jar (computes the JVM memory flags, as taskmanager.sh does)
    flink-1.16.2/plugins/metrics-prometheus/   Flink's Prometheus reporter
    flink-1.16.2/image/ what only the Docker stand-in of apache/flink-statefun:3.3.0 needs
                        (docker/ready.py): the rest of Flink's lib/, Flink's bin/ scripts and
                        conf/, statefun-flink-core.jar and the netty-tcnative jar of Flink's opt/
    kafka-3.9.2/libs/   the Kafka broker and its runtime dependencies

Sources (all registries reachable from the workshop machines):
  * Flink 1.16.2: PyPI's `apache-flink-libraries==1.16.2` sdist, which carries Flink's lib/
    (there is no Flink binary tarball on a package registry). Found through the simple
    index ($PIP_INDEX_URL, default https://pypi.org/simple); only the jars listed below are kept.
  * Flink 1.16.2's bin/ scripts and conf/: PyPI's `apache-flink==1.16.2` sdist (1.2 MB).
  * StateFun 3.3.0 and Kafka 3.9.2: Maven Central ($MAVEN_REPO_URL, default
    https://repo.maven.apache.org/maven2), as direct downloads of a pinned jar list
    (generated once from local/kafka-pom.xml; see local/NOTES.md).

Every file is checked against the SHA-256 pinned here, right after download.
Later runs only check that each file is present with its pinned size; `--verify` re-hashes all.

Usage:  python local/fetch.py [--verify]
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import os
import shutil
import sys
import tarfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

FLINK_VERSION = "1.16.2"
STATEFUN_VERSION = "3.3.0"
KAFKA_VERSION = "3.9.2"

# --- Flink, from PyPI -------------------------------------------------------------------------
FLINK_SDIST = "apache-flink-libraries-1.16.2.tar.gz"
FLINK_SDIST_SIZE = 236_911_968
FLINK_SDIST_SHA256 = "68f4328b6109e178a63d7eac661fc1f1cd1b70f01a77cd1bbaf93512a76382ab"
FLINK_SDIST_ROOT = "apache-flink-libraries-1.16.2/deps/"

# (path inside the sdist's deps/, size, sha256). Only what the JobManager/TaskManager need:
# the table/sql/cep/files/csv/json/scala jars are left out (StateFun does not use them).
FLINK_FILES = [
    ("lib/flink-dist-1.16.2.jar", 117_113_058, "501be06498b1ce80be01c95970d2d1eeeb922725f0069c5ae0c17d71cd13c794"),
    (
        "lib/flink-shaded-zookeeper-3.5.9.jar",
        10_737_871,
        "d6fbac2df45a5695a804f40d4ca5941bb647dd16987881cf026d0d3db63b3efe",
    ),
    ("lib/log4j-1.2-api-2.17.1.jar", 208_006, "ca3e9150f95c31d15b9680a609b8817f8549bd395591c5ca55957d1ef0f464d6"),
    ("lib/log4j-api-2.17.1.jar", 301_872, "b0d8a4c8ab4fb8b1888d0095822703b0e6d4793c419550203da9e69196161de4"),
    ("lib/log4j-core-2.17.1.jar", 1_790_452, "c967f223487980b9364e94a7c7f9a8a01fd3ee7c19bdbf0b0f9f8cb8511f3d41"),
    ("lib/log4j-slf4j-impl-2.17.1.jar", 24_279, "e9a03720e5d5076009c2530635da9d08485e28a0b0ec20708dadc51afb78e41e"),
    ("bin/bash-java-utils.jar", 2_290_648, "19b16d2deb53f28901473edfa3d05f6fcb170e2bc8e050c0499a86c682e9c390"),
    # Flink's Prometheus reporter (flink-conf.yaml), a plugin as in Flink's own distribution
    # and image: loaded from plugins/ with a class loader of its own. Maven Central has no
    # 1.16.2 of this artifact (1.16.1, then 1.17.0); the distribution in this sdist does.
    (
        "plugins/metrics-prometheus/flink-metrics-prometheus-1.16.2.jar",
        101_516,
        "df2197e5a6b506ef22a58e99cc99d386f47f98e52980d74e18ae0420bef3c0e2",
    ),
]
# The rest of the official image's lib/ (it deletes only the flink-table jars). The local mode
# does not put these on its classpath; they are extracted in the same pass, into image/lib/.
FLINK_IMAGE_FILES = [
    ("lib/flink-cep-1.16.2.jar", 198_819, "044870187cf755972542e8d64ddb35f8f90c0cab4a4aa30175d0f7619927151a"),
    (
        "lib/flink-connector-files-1.16.2.jar",
        516_146,
        "f2cc1772998eeed3c581cb7f383c660939b03a41ed95cd91733b6e56de08194a",
    ),
    ("lib/flink-csv-1.16.2.jar", 102_473, "8cf5c94c62eee763be324c93cd64d7dcecb5ea6235eb81af93a2ce3fbbfffc38"),
    ("lib/flink-json-1.16.2.jar", 180_246, "6fa37bbe9909fc2d36cbf2f049c8e34827605cc7155942078a23fda14c0a9537"),
    ("lib/flink-scala_2.12-1.16.2.jar", 21_052_641, "97237ba9d4a64ed2287d6fe0d197332e5e37c3360411ad7f57b1a804c6871416"),
]

# Flink's own bin/ scripts (taskmanager.sh, config.sh, flink-console.sh, ...) and conf/ (the
# log4j files) are in no jar: PyPI's apache-flink sdist carries them, under deps/.
FLINK_SCRIPTS_SDIST = "apache-flink-1.16.2.tar.gz"
FLINK_SCRIPTS_SDIST_SIZE = 1_204_502
FLINK_SCRIPTS_SDIST_SHA256 = "3c270dc1aafaa87a1e06114536be060f22bcffe83960350ab74a9095e77c0140"
FLINK_SCRIPTS_SDIST_ROOT = "apache-flink-1.16.2/deps/"

# --- StateFun, from Maven Central -------------------------------------------------------------
# The fat distribution jar holds the whole runtime (launcher, core, Kafka connector, protobuf).
# statefun-flink-core.jar is only needed by StatefulFunctionsClusterEntryPoint, which insists on
# /opt/flink/lib/statefun-flink-core.jar; the local mode uses Flink's
# StandaloneApplicationClusterEntryPoint instead (see local/NOTES.md), so it is not fetched.
STATEFUN_JARS = [
    (
        "org/apache/flink/statefun-flink-distribution/3.3.0/statefun-flink-distribution-3.3.0.jar",
        107_131_350,
        "d38b11e578fcbb6befeffd550816eaa4db01c5d4bcf2f5396ed8b321d034222b",
    ),
]

# Only in the official image: StatefulFunctionsClusterEntryPoint insists on
# /opt/flink/lib/statefun-flink-core.jar, and Flink's image moves netty-tcnative from opt/ to lib/.
IMAGE_JARS = [
    (
        "org/apache/flink/statefun-flink-core/3.3.0/statefun-flink-core-3.3.0.jar",
        670_540,
        "c454267b91a9b0e84329dce207a64d0d6088019671433cf29ac19d96503d32f7",
    ),
    (
        "org/apache/flink/flink-shaded-netty-tcnative-dynamic/2.0.44.Final-15.0/flink-shaded-netty-tcnative-dynamic-2.0.44.Final-15.0.jar",
        231_708,
        "456f6a773f649943008efc14fd14550698bb40a7e2ac68723e221c36568048cd",
    ),
]

# --- Kafka broker, from Maven Central ---------------------------------------------------------
# Generated from local/kafka-pom.xml (kafka_2.13:3.9.2 + slf4j-reload4j) with
#   mvn -q -f local/kafka-pom.xml dependency:copy-dependencies -DincludeScope=runtime \
#       -DoutputDirectory=/tmp/kjars -Dmdep.useRepositoryLayout=true
# then (sha256, size, path) of every jar. Paths are Maven repository paths.
KAFKA_JARS = [
    (
        "at/yawk/lz4/lz4-java/1.10.1/lz4-java-1.10.1.jar",
        910232,
        "a58a84c4271e50df4c96ed916ccb7e48a869f8ed9cdcda1ad5d3d4c33b0214a3",
    ),
    (
        "ch/qos/reload4j/reload4j/1.2.19/reload4j-1.2.19.jar",
        334103,
        "fa07aa7adedf2a65eb09007443bb60b51c725b1b5b88e481e00c529ff2d3b5b5",
    ),
    (
        "com/fasterxml/jackson/core/jackson-annotations/2.16.2/jackson-annotations-2.16.2.jar",
        78481,
        "d1cdd269ebaa753d1842933194e17d61958f058952d63e03dbfb3d1d78a6926e",
    ),
    (
        "com/fasterxml/jackson/core/jackson-core/2.16.2/jackson-core-2.16.2.jar",
        582784,
        "4f43e2f1430b2d2413e8e5a3d79138e57e891d6a961b18c28ac90859639d8664",
    ),
    (
        "com/fasterxml/jackson/core/jackson-databind/2.16.2/jackson-databind-2.16.2.jar",
        1638583,
        "53b6025d98c357068296e4b134242443a248c2c582800879f1c4ea93b54bafa6",
    ),
    (
        "com/fasterxml/jackson/dataformat/jackson-dataformat-csv/2.16.2/jackson-dataformat-csv-2.16.2.jar",
        102033,
        "01a04610def154c50369e8bcd7c5ae1401579f591aa55e88f05093447e24d490",
    ),
    (
        "com/fasterxml/jackson/datatype/jackson-datatype-jdk8/2.16.2/jackson-datatype-jdk8-2.16.2.jar",
        36119,
        "3e9b1b59f638b487b5ae0e2f4190fc98f72b0bf661324e7dfc71a69f6b9d4e29",
    ),
    (
        "com/fasterxml/jackson/module/jackson-module-scala_2.13/2.16.2/jackson-module-scala_2.13-2.16.2.jar",
        521404,
        "1154f6dc8643739c0c3ef4c2a7901ca752b5cca7ebe1908d405ced701a8f3764",
    ),
    (
        "com/github/ben-manes/caffeine/caffeine/2.9.3/caffeine-2.9.3.jar",
        912143,
        "1e0a7bbef1dd791653143f3f05d0e489934bf5481e58a87c9e619cd46b68729b",
    ),
    (
        "com/github/luben/zstd-jni/1.5.6-4/zstd-jni-1.5.6-4.jar",
        6687870,
        "793ca8734aa15687e7e64564eab8b6ae9ee2720eae27aa663074682144b1c386",
    ),
    (
        "com/google/errorprone/error_prone_annotations/2.10.0/error_prone_annotations-2.10.0.jar",
        15992,
        "a249d4d25dfb86d41e6c82fc335df580189f0c9feeabdc53233fc1e5060724a1",
    ),
    (
        "com/thoughtworks/paranamer/paranamer/2.8/paranamer-2.8.jar",
        34654,
        "688cb118a6021d819138e855208c956031688be4b47a24bb615becc63acedf07",
    ),
    (
        "com/typesafe/scala-logging/scala-logging_2.13/3.9.5/scala-logging_2.13-3.9.5.jar",
        61858,
        "87a3017d3f43e6ace7566fe4c3d615134c6914ff871c8d64bb32ca1d996d0545",
    ),
    (
        "com/yammer/metrics/metrics-core/2.2.0/metrics-core-2.2.0.jar",
        82123,
        "6b7a14a6f34c10f8683f7b5e2f39df0f07b58c7dff0e468ebbc713905c46979c",
    ),
    (
        "commons-beanutils/commons-beanutils/1.11.0/commons-beanutils-1.11.0.jar",
        246806,
        "9e44ba68ec9a3f21286fa2a8bbb003b735c0f69101bb43144b79f4f8aaa74709",
    ),
    (
        "commons-cli/commons-cli/1.4/commons-cli-1.4.jar",
        53820,
        "fd3c7c9545a9cdb2051d1f9155c4f76b1e4ac5a57304404a6eedb578ffba7328",
    ),
    (
        "commons-collections/commons-collections/3.2.2/commons-collections-3.2.2.jar",
        588337,
        "eeeae917917144a68a741d4c0dff66aa5c5c5fd85593ff217bced3fc8ca783b8",
    ),
    (
        "commons-digester/commons-digester/2.1/commons-digester-2.1.jar",
        196768,
        "e0b2b980a84fc6533c5ce291f1917b32c507f62bcad64198fff44368c2196a3d",
    ),
    (
        "commons-io/commons-io/2.14.0/commons-io-2.14.0.jar",
        494227,
        "e35d1df7232568ed4b81d9a9ed94a0159b3ff6cf1915cc21eef5cb55d7b157a2",
    ),
    (
        "commons-logging/commons-logging/1.3.5/commons-logging-1.3.5.jar",
        73737,
        "6d7a744e4027649fbb50895df9497d109f98c766a637062fe8d2eabbb3140ba4",
    ),
    (
        "commons-validator/commons-validator/1.10.1/commons-validator-1.10.1.jar",
        203132,
        "ed74711a78d793ca37f6075e4a1e93d107233dfd20d0bb17e32bad88d38e56aa",
    ),
    (
        "io/dropwizard/metrics/metrics-core/4.1.12.1/metrics-core-4.1.12.1.jar",
        105355,
        "cec34936faa625039f4e46123eccaa10a9eb9d9a40c6075830cd81330e259cf9",
    ),
    (
        "io/netty/netty-buffer/4.1.105.Final/netty-buffer-4.1.105.Final.jar",
        307729,
        "cc1b0108a60b1eb69bd01a10922851a166c58972cc0683f2116a9e8e7ecdaf0b",
    ),
    (
        "io/netty/netty-codec/4.1.105.Final/netty-codec-4.1.105.Final.jar",
        345325,
        "c4f62480b408fb835b454c74cf6394a4c7088ffdaec78742fcece816c46bb58e",
    ),
    (
        "io/netty/netty-common/4.1.105.Final/netty-common-4.1.105.Final.jar",
        660636,
        "399a8045fb43861afb7fc1ef3371f95a0b176692fb268f4867cff4957e63fd25",
    ),
    (
        "io/netty/netty-handler/4.1.105.Final/netty-handler-4.1.105.Final.jar",
        561623,
        "5a6945cf1de374628b37ab1c35a4c47c2f5616db3a94b150720641477112be8e",
    ),
    (
        "io/netty/netty-resolver/4.1.105.Final/netty-resolver-4.1.105.Final.jar",
        37814,
        "7202edd076a1edab50fdb0f3e54f56a02129b326296d9f35f4194f8cfb9b96ef",
    ),
    (
        "io/netty/netty-transport-classes-epoll/4.1.105.Final/netty-transport-classes-epoll-4.1.105.Final.jar",
        147234,
        "a43bf94f784eb759c14f0b0c7e1c5985a64879e8c7ab21ba7c0c80f7a9382b30",
    ),
    (
        "io/netty/netty-transport-native-epoll/4.1.105.Final/netty-transport-native-epoll-4.1.105.Final.jar",
        6075,
        "61f09ce16f0fd25e57a0a732f8fb79344f6b95051d88ac50a28874ad92e6d149",
    ),
    (
        "io/netty/netty-transport-native-unix-common/4.1.105.Final/netty-transport-native-unix-common-4.1.105.Final.jar",
        44065,
        "7db91b72aae19e1cdca13c7fa76d57db20cbaf5b1e770563909a4437c63eb5cb",
    ),
    (
        "io/netty/netty-transport/4.1.105.Final/netty-transport-4.1.105.Final.jar",
        496884,
        "be9b8a2f86685a876e469c904cb9fce53a1e826e178d44d2b1d92f6a99054737",
    ),
    (
        "net/sf/jopt-simple/jopt-simple/5.0.4/jopt-simple-5.0.4.jar",
        78146,
        "df26cc58f235f477db07f753ba5a3ab243ebe5789d9f89ecf68dd62ea9a66c28",
    ),
    (
        "net/sourceforge/argparse4j/argparse4j/0.7.0/argparse4j-0.7.0.jar",
        90347,
        "65ceb669d88f63306c680f8088bbf765bbca72d288a61a03703000076c3d3f56",
    ),
    (
        "org/apache/kafka/kafka-clients/3.9.2/kafka-clients-3.9.2.jar",
        9220052,
        "014b4ef36884478a932641818b080c36a8f8e2e92dc771e800c9d2694f4f83d8",
    ),
    (
        "org/apache/kafka/kafka-group-coordinator-api/3.9.2/kafka-group-coordinator-api-3.9.2.jar",
        12604,
        "bd903ba506c8309401a331ef1b826612d1cb95862879551031428da5cf50eab6",
    ),
    (
        "org/apache/kafka/kafka-group-coordinator/3.9.2/kafka-group-coordinator-3.9.2.jar",
        548538,
        "d4d57f0955895cc38381f346f5ff7eba487afafa5ba264804af18393305b32fd",
    ),
    (
        "org/apache/kafka/kafka-metadata/3.9.2/kafka-metadata-3.9.2.jar",
        867907,
        "ffe970aee12f00df4b0162f31c719df7c412f9207c166a74cef6611be25a255e",
    ),
    (
        "org/apache/kafka/kafka-raft/3.9.2/kafka-raft-3.9.2.jar",
        288382,
        "f897533828e55ac466a5b183a25dccbe5a7b97c02162dac38e25338feddfe422",
    ),
    (
        "org/apache/kafka/kafka-server-common/3.9.2/kafka-server-common-3.9.2.jar",
        294396,
        "0374b3f13c3c4b7fd446d35df1ccb0c60931ea27d4972b4de1bb1d548a87f5b2",
    ),
    (
        "org/apache/kafka/kafka-server/3.9.2/kafka-server-3.9.2.jar",
        108024,
        "4f8667dbd664c4b0906e05499cfdc5f558f14c098b77fa6c09656cceb62a63ef",
    ),
    (
        "org/apache/kafka/kafka-storage-api/3.9.2/kafka-storage-api-3.9.2.jar",
        26870,
        "565ab8540b50c7f00ea62c77a6639237ed3a80550245be70dc733f157cd280d6",
    ),
    (
        "org/apache/kafka/kafka-storage/3.9.2/kafka-storage-3.9.2.jar",
        359015,
        "8a3d7b67dfcd34b1334d4994ed4106ba9c9b37ebcbb177ac47ff44050e8ab84b",
    ),
    (
        "org/apache/kafka/kafka-tools-api/3.9.2/kafka-tools-api-3.9.2.jar",
        9052,
        "501ac034b93853c3dcba4b49e32c7c795de109a96b8ab6d59a9ab19e6ef11491",
    ),
    (
        "org/apache/kafka/kafka-transaction-coordinator/3.9.2/kafka-transaction-coordinator-3.9.2.jar",
        30916,
        "d6ca25648111dfd11f76d3d0f7f51a9458784b645f4e56ce34fbc58d9c9d0296",
    ),
    (
        "org/apache/kafka/kafka_2.13/3.9.2/kafka_2.13-3.9.2.jar",
        4727916,
        "dddf49b18c931301fece0048a76d6b0956c36c8b1d1fc721bfed318aa6ee3e4f",
    ),
    (
        "org/apache/yetus/audience-annotations/0.12.0/audience-annotations-0.12.0.jar",
        20891,
        "ffb101fc066360ff3c77457c927fd7967fb096a6ee9e046ab7071447d8208efc",
    ),
    (
        "org/apache/zookeeper/zookeeper-jute/3.8.4/zookeeper-jute-3.8.4.jar",
        254932,
        "93e854b55d731e745bafec187e2e7bf3389fd2a88e2fc8d1a3c1b9110284b284",
    ),
    (
        "org/apache/zookeeper/zookeeper/3.8.4/zookeeper-3.8.4.jar",
        1323991,
        "2d77b152039e7f85dc5438a9304febff86a2f3e55c88976a8be309af39028e97",
    ),
    (
        "org/bitbucket/b_c/jose4j/0.9.6/jose4j-0.9.6.jar",
        299502,
        "7314af50cde9c99e8eaf43eee617a23edcc6bb43036221064355094999d837ef",
    ),
    (
        "org/pcollections/pcollections/4.0.1/pcollections-4.0.1.jar",
        73684,
        "1f82766d7c3221930854033bebff5073ea46b43f27326074bbe15d148c18bfb3",
    ),
    (
        "org/scala-lang/modules/scala-collection-compat_2.13/2.10.0/scala-collection-compat_2.13-2.10.0.jar",
        5596,
        "bb10091bd55131a5327bdeddede74e5d8a695acab24a97567111784f2f427299",
    ),
    (
        "org/scala-lang/modules/scala-java8-compat_2.13/1.0.2/scala-java8-compat_2.13-1.0.2.jar",
        640088,
        "90d5b13656be93fb779b8d7c723efa2498a34af06273bb5204afb65f85a20c1b",
    ),
    (
        "org/scala-lang/scala-library/2.13.15/scala-library-2.13.15.jar",
        5924531,
        "8e4dbc3becf70d59c787118f6ad06fab6790136a0699cd6412bc9da3d336944e",
    ),
    (
        "org/scala-lang/scala-reflect/2.13.15/scala-reflect-2.13.15.jar",
        3803359,
        "78d0cc350e1ee42d87c6e11cf5b0dc7bf0b70829c00aa38f27bfb019d439dc11",
    ),
    (
        "org/slf4j/slf4j-api/1.7.36/slf4j-api-1.7.36.jar",
        41125,
        "d3ef575e3e4979678dc01bf1dcce51021493b4d11fb7f1be8ad982877c16a1c0",
    ),
    (
        "org/slf4j/slf4j-reload4j/1.7.36/slf4j-reload4j-1.7.36.jar",
        9824,
        "ae6fdd5c9547896114d5ec7fa7503733b7d2890573d3886fb548b3119c4d3f67",
    ),
    (
        "org/xerial/snappy/snappy-java/1.1.10.5/snappy-java-1.1.10.5.jar",
        2299797,
        "0f3f1857ed33116583f480b4df5c0218836c47bfbc9c6221c0d73f356decf37b",
    ),
]


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
    return cache_dir() / f"flink-{FLINK_VERSION}"


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
    return cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"


def maven_repo_url() -> str:
    return os.environ.get("MAVEN_REPO_URL", "https://repo.maven.apache.org/maven2").rstrip("/")


def pypi_index_url() -> str:
    # pip's own setting, so a mirror configured for pip is used here too.
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def flink_targets() -> list[Target]:
    local = [Target(flink_home() / path, size, sha, path) for path, size, sha in FLINK_FILES]
    image = [Target(flink_image_dir() / path, size, sha, path) for path, size, sha in FLINK_IMAGE_FILES]
    return local + image


def maven_targets() -> list[tuple[str, Target]]:
    """(repository path, target) for every jar fetched from Maven."""
    statefun = [(p, Target(flink_lib_dir() / Path(p).name, s, h)) for p, s, h in STATEFUN_JARS]
    image = [(p, Target(flink_image_dir() / "lib" / Path(p).name, s, h)) for p, s, h in IMAGE_JARS]
    kafka = [(p, Target(kafka_libs_dir() / Path(p).name, s, h)) for p, s, h in KAFKA_JARS]
    return statefun + image + kafka


# --- hashing and downloading ------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_present(target: Target, verify: bool) -> bool:
    if not target.dest.is_file() or target.dest.stat().st_size != target.size:
        return False
    return not verify or sha256_of(target.dest) == target.sha256


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


def download(url: str, target: Target, attempts: int = 3) -> None:
    """Fetch url into target.dest via a .part file; fail loudly on a hash mismatch."""
    target.dest.parent.mkdir(parents=True, exist_ok=True)
    part = target.dest.with_name(target.dest.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            progress = Progress(target.dest.name, target.size)
            with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    progress.add(len(block))
            progress.close()
            break
        except OSError as error:  # URLError, timeouts and resets are all OSErrors
            print(f"  download failed ({error}); attempt {attempt}/{attempts}", file=sys.stderr)
            if attempt == attempts:
                raise SystemExit(f"could not download {url}: {error}") from None
            time.sleep(2 * attempt)
    actual = sha256_of(part)
    if actual != target.sha256:
        part.unlink()
        raise SystemExit(f"SHA-256 mismatch for {url}\n  expected {target.sha256}\n  got      {actual}")
    part.replace(target.dest)


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
    wanted = {FLINK_SDIST_ROOT + t.member: t for t in missing}
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive:
            target = wanted.get(member.name)
            if target is None:
                continue
            target.dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as src, target.dest.open("wb") as out:
                shutil.copyfileobj(src, out)
            if sha256_of(target.dest) != target.sha256:
                target.dest.unlink()
                raise SystemExit(f"SHA-256 mismatch for {member.name} inside {sdist.name}")


def ensure_flink(verify: bool) -> int:
    """Returns the number of bytes downloaded."""
    missing = [t for t in flink_targets() if not is_present(t, verify)]
    if not missing:
        return 0
    print(f"Flink {FLINK_VERSION}: {FLINK_SDIST} from {pypi_index_url()}", file=sys.stderr)
    downloads = cache_dir() / "downloads"
    sdist = Target(downloads / FLINK_SDIST, FLINK_SDIST_SIZE, FLINK_SDIST_SHA256)
    if not is_present(sdist, verify=True):
        download(pypi_file_url("apache-flink-libraries", FLINK_SDIST), sdist)
    extract_flink_files(sdist.dest, missing)
    # The 237 MB sdist is no longer needed: the extracted jars are pinned themselves.
    sdist.dest.unlink()
    return FLINK_SDIST_SIZE


def ensure_flink_scripts(verify: bool) -> int:
    """Flink's bin/ and conf/ from the apache-flink sdist, unpacked into image/ (the sdist stays)."""
    sdist = Target(
        cache_dir() / "downloads" / FLINK_SCRIPTS_SDIST, FLINK_SCRIPTS_SDIST_SIZE, FLINK_SCRIPTS_SDIST_SHA256
    )
    unpacked = flink_image_dir() / ".scripts-unpacked"
    if is_present(sdist, verify) and unpacked.is_file():
        return 0
    fetched = 0
    if not is_present(sdist, verify=True):
        print(f"Flink {FLINK_VERSION} scripts: {FLINK_SCRIPTS_SDIST} from {pypi_index_url()}", file=sys.stderr)
        download(pypi_file_url("apache-flink", FLINK_SCRIPTS_SDIST), sdist)
        fetched = FLINK_SCRIPTS_SDIST_SIZE
    with tarfile.open(sdist.dest, "r:gz") as archive:
        for member in archive:
            relative = member.name.removeprefix(FLINK_SCRIPTS_SDIST_ROOT)
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
    pinned = {Path(p).name for p, _, _ in KAFKA_JARS}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verify", action="store_true", help="re-hash every cached file")
    args = parser.parse_args()
    ensure_all(verify=args.verify)
    print(f"Flink {FLINK_VERSION} + StateFun {STATEFUN_VERSION}: {flink_lib_dir()}")
    print(f"Kafka {KAFKA_VERSION}: {kafka_libs_dir()}")


if __name__ == "__main__":
    main()
