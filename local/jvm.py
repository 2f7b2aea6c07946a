"""The Java command lines of Kafka, the JobManager and the TaskManager, as their start
scripts would build them; the ingress guard and the loopback reporter compiled for them.

The jars come from local/fetch.py's cache ($WORKSHOP_CACHE).
"""

import base64
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import fetch  # local/fetch.py, beside this file
from layout import (
    CONF,
    FLINK_PLUGINS,
    INGRESS_GUARD_SOURCES,
    KAFKA_DATA,
    LAST_STATE,
    LOGS,
    LOOPBACK_REPORTER_SOURCES,
    RUN,
    TOPIC_IDS_SOURCES,
)
from rendering import kafka_heap_options

# Java 17 closes the JDK internals that Flink 1.16 (and Kryo) reach into. This is the
# default list of Flink 1.18 (env.java.default-opts.all), the first release that supports 17.
JAVA17_OPENS = [
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
]


def java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        sys.exit("java not found: install a JDK 11 or 17 (e.g. apt-get install openjdk-17-jdk-headless)")
    return str(candidate)


def flink_classpath() -> str:
    """lib/*.jar with flink-dist last, the order of Flink's own constructFlinkClassPath."""
    jars = sorted(fetch.flink_lib_dir().glob("*.jar"), key=lambda jar: (jar.name.startswith("flink-dist"), jar.name))
    return os.pathsep.join(str(jar) for jar in [ingress_guard_jar(), *jars])


@functools.cache  # every JVM command line asks; compile and hash once per run of this script
def ingress_guard_jar() -> Path:
    """statefun-runtime/ingress-guard/ compiled into a jar, once per version of its source.

    The Docker image compiles the same source (statefun-runtime/Dockerfile); here the
    JDK's javac does it, against the runtime's own jars.
    """
    return compiled_jar("ingress-guard", INGRESS_GUARD_SOURCES, sorted(fetch.flink_lib_dir().glob("*.jar")))


@functools.cache
def build_flink_plugins() -> None:
    """FLINK_PLUGINS: Flink's plugins/metrics-prometheus/ plus local/loopback-reporter/.

    Flink 1.16's Prometheus reporter listens on every interface; the loopback reporter is the
    same reporter on 127.0.0.1 (metrics_settings). It extends the plugin's classes, so its jar
    goes into the plugin's folder, which here is a copy under .local-run (the cache stays as
    fetched).
    """
    flink_plugin = fetch.flink_plugins_dir() / "metrics-prometheus"
    flink_jars = sorted(flink_plugin.glob("*.jar"))
    reporter = compiled_jar(
        "loopback-reporter", LOOPBACK_REPORTER_SOURCES, [*sorted(fetch.flink_lib_dir().glob("*.jar")), *flink_jars]
    )
    folder = FLINK_PLUGINS / "metrics-prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {jar.name: jar for jar in [*flink_jars, reporter]}
    for stale in [jar for jar in folder.iterdir() if jar.name not in wanted]:
        stale.unlink()  # an older build of the reporter
    for name, jar in wanted.items():
        if not (folder / name).exists():  # the names carry the version; a running JVM keeps its jars
            shutil.copy2(jar, folder / name)


def compiled_jar(name: str, sources: Path, classpath: list[Path]) -> Path:
    """The .java files under `sources` compiled against `classpath`, with the other files
    there (META-INF/services) as they are; built once per version of the sources."""
    files = sorted(path for path in sources.rglob("*") if path.is_file())
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()[:12]
    jar = RUN / "lib" / f"{name}-{digest}.jar"
    if jar.exists():
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    javac = Path(java()).with_name("javac")
    if not javac.exists():
        sys.exit(f"{javac} not found: the Docker-free mode needs a JDK, not only a Java runtime")
    classes = RUN / "lib" / f"{name}-classes"
    shutil.rmtree(classes, ignore_errors=True)
    java_sources = [str(path) for path in files if path.suffix == ".java"]
    subprocess.run(
        [str(javac), "--release", "11", "-cp", os.pathsep.join(map(str, classpath)), "-d", str(classes), *java_sources],
        check=True,
    )
    resources = [(path, path.relative_to(sources)) for path in files if path.suffix != ".java"]
    compiled = [(path, path.relative_to(classes)) for path in sorted(classes.rglob("*.class"))]
    with zipfile.ZipFile(jar, "w") as archive:  # a jar is a zip: no need for the jar tool
        for path, name_in_jar in [*compiled, *resources]:
            archive.write(path, name_in_jar.as_posix())
    shutil.rmtree(classes)
    return jar


def bash_java_utils(command: str) -> tuple[list[str], list[str]]:
    """JVM flags and -D settings for the memory in flink-conf.yaml, as Flink's start scripts get them.

    BashJavaUtils prints two lines prefixed BASH_JAVA_UTILS_EXEC_RESULT: the JVM memory flags
    (-Xmx, -Xms, ...) and the derived memory settings as "-D key=value" dynamic properties.
    """
    classpath = os.pathsep.join([str(fetch.bash_java_utils_jar()), flink_classpath()])
    result = subprocess.run(
        [
            java(),
            "-cp",
            classpath,
            "org.apache.flink.runtime.util.bash.BashJavaUtils",
            command,
            "--configDir",
            str(CONF),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    prefix = "BASH_JAVA_UTILS_EXEC_RESULT:"
    lines = [line[len(prefix) :] for line in result.stdout.splitlines() if line.startswith(prefix)]
    if result.returncode != 0 or len(lines) != 2:
        sys.exit(f"BashJavaUtils {command} failed:\n{result.stdout}\n{result.stderr}")
    return lines[0].split(), lines[1].split()


def flink_jvm_options(service: str) -> list[str]:
    return [
        *JAVA17_OPENS,
        f"-Dlog4j.configurationFile={(CONF / 'log4j-console.properties').as_uri()}",
        f"-Dlog.file={LOGS / (service + '.log')}",  # only read by the web UI's log tabs
    ]


def master_command(savepoint: Path | None, metrics_port: int) -> list[str]:
    """The JobManager, which also runs the StateFun job (application mode), behind
    statefun-runtime/last-state.sh as in the Docker image: every start of master, supervisord's
    restarts included, resumes the newest completed checkpoint unless given a savepoint.

    The StateFun image starts StatefulFunctionsClusterEntryPoint, but that class insists on
    /opt/flink/lib/statefun-flink-core.jar and /opt/statefun/modules. Flink's own
    StandaloneApplicationClusterEntryPoint runs the same job class from the classpath.
    """
    return [*last_state_command(), *jobmanager_command(savepoint, metrics_port)]


def last_state_command() -> list[str]:
    """last-state.sh with its settings, as the Docker image's ENV gives them."""
    topic_ids = compiled_jar("topic-ids", TOPIC_IDS_SOURCES, sorted(fetch.flink_lib_dir().glob("*.jar")))
    return [
        "env",
        f"LAST_STATE_FLINK_CONF={CONF / 'flink-conf.yaml'}",
        f"LAST_STATE_MODULE={CONF / 'module.yaml'}",
        f"LAST_STATE_CLASSPATH={os.pathsep.join([str(topic_ids), flink_classpath()])}",
        f"LAST_STATE_JAVA={java()}",
        "bash",
        str(LAST_STATE),
    ]


def jobmanager_command(savepoint: Path | None, metrics_port: int) -> list[str]:
    memory_flags, dynamic_settings = bash_java_utils("GET_JM_RESOURCE_PARAMS")
    command = [
        java(),
        *memory_flags,
        *flink_jvm_options("master"),
        "-cp",
        flink_classpath(),
        "org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint",
        "--configDir",
        str(CONF),
        "--job-classname",
        "org.apache.flink.statefun.flink.core.StatefulFunctionsJob",
        *dynamic_settings,
        *metrics_settings(metrics_port),
    ]
    if savepoint:
        command += ["--fromSavepoint", str(savepoint), "--allowNonRestoredState"]
    return command


def metrics_settings(port: int) -> list[str]:
    """The Prometheus reporter of this process: local/loopback-reporter/ (Flink's reporter on
    127.0.0.1) instead of flink-conf.yaml's, on its own port (processes.flink_metrics_ports)."""
    build_flink_plugins()
    return [
        "-D",
        "metrics.reporter.prom.factory.class=workshop.metrics.LoopbackPrometheusReporterFactory",
        "-D",
        "metrics.reporter.prom.host=127.0.0.1",
        "-D",
        f"metrics.reporter.prom.port={port}",
    ]


def worker_command(name: str, metrics_port: int) -> list[str]:
    memory_flags, dynamic_settings = bash_java_utils("GET_TM_RESOURCE_PARAMS")
    return [
        java(),
        *memory_flags,
        *flink_jvm_options(name),
        "-cp",
        flink_classpath(),
        "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
        "--configDir",
        str(CONF),
        *dynamic_settings,
        *metrics_settings(metrics_port),
    ]


def kafka_java_command(main_class: str, *args: str) -> list[str]:
    return [
        java(),
        *kafka_heap_options(),
        # GC settings from Kafka's kafka-run-class.sh.
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration={(CONF / 'kafka-log4j.properties').as_uri()}",
        "-cp",
        str(fetch.kafka_libs_dir() / "*"),  # java expands the wildcard itself
        main_class,
        *args,
    ]


def format_kafka_storage_once(server_properties: Path) -> None:
    """KRaft needs its log directory formatted with a cluster id before the first start."""
    if (KAFKA_DATA / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    print(f"Formatting Kafka storage in {KAFKA_DATA} (cluster id {cluster_id})")
    # "--cluster-id=": an id may start with "-", which the tool would take for an option.
    subprocess.run(
        kafka_java_command(
            "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(server_properties)
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
