#!/bin/bash
# The stand-in's entry point, to the contract of apache/flink-statefun's /docker-entry-point.sh:
# ROLE=master starts the JobManager with the StateFun job (container arguments, such as
# -s <savepoint> -n, go to it), ROLE=worker a TaskManager (arguments ignored), both pointed at
# MASTER_HOST through a -D setting; nothing is written into flink-conf.yaml. Every step execs,
# so the JVM ends up as PID 1 and receives docker stop's SIGTERM.
FLINK_HOME=${FLINK_HOME:-/opt/flink/bin}  # sic: the original's default; the image sets FLINK_HOME

case "${ROLE}" in
  worker)
    exec "${FLINK_HOME}/bin/taskmanager.sh" start-foreground -Djobmanager.rpc.address="${MASTER_HOST}" ;;
  master)
    exec "${FLINK_HOME}/bin/standalone-job.sh" start-foreground -Djobmanager.rpc.address="${MASTER_HOST}" "$@" ;;
  *)
    echo "unknown role ${ROLE}: set ROLE to master or worker" >&2
    exit 1 ;;
esac
