#!/bin/bash
# State lasts: which state the StateFun job starts with, decided just before the JobManager
# starts, in both modes (the Dockerfile's entry point for master, local/jvm.py's master command).
#
#   last-state.sh COMMAND [ARGS...]     decide, then exec the JobManager's COMMAND ARGS
#     LAST_STATE_FLINK_CONF   the flink-conf.yaml the job runs: its state.checkpoints.dir
#     LAST_STATE_MODULE       the module.yaml the job runs: its Kafka address and ingress topics
#     LAST_STATE_CLASSPATH    the runtime's jars and topic-ids.jar (KafkaTopicIds)
#     LAST_STATE_JAVA         the java to run KafkaTopicIds with (default: java on PATH)
#   last-state.sh --forget CHECKPOINT_DIR   remove the checkpoints (`make fresh`, `down -v`)
#
# The rule, as the Flink Kubernetes operator's last-state upgrade has it:
# - ARGS with a savepoint (-s PATH): that savepoint, as given.
# - Otherwise the newest completed checkpoint (a chk-N folder with its _metadata) in the
#   checkpoint folder, given to Flink like a savepoint, with -n (allowNonRestoredState) as a
#   savepoint start has it: Flink's own restore, state and Kafka offsets together.
# - Empty state when there is none, or when the ingress topics are not the ones the checkpoints
#   read (recreated since, e.g. by `docker compose down -v`): their offsets would point into
#   topics that no longer exist. The topics' ids, recorded in kafka-topics beside the
#   checkpoints, tell (KafkaTopicIds.java).
# Every start says which, in a line that begins with "last-state:" (the JobManager's log;
# `make up` and `make status` repeat it). Folders of earlier jobs go once a newer one holds the
# state, so the folder keeps at most two jobs' checkpoints (flink-conf.yaml retains one each).
set -euo pipefail

say() {
  echo "last-state: $*"
}

# Folders whose files no process can be writing any more: the checkpoints of earlier jobs.
remove_job_folders_except() {
  local keep=$1 folder
  for folder in "$checkpoints"/*/; do
    folder=${folder%/}
    # Not fatal: a folder the other mode wrote as another user may refuse (its files are
    # read-only to us); the state to start with does not depend on it.
    if [ "$folder" != "$keep" ] && [ -d "$folder" ] && ! rm -rf -- "$folder" 2>/dev/null; then
      say "could not remove $folder (written by another user?): remove it by hand"
    fi
  done
}

# Replaced, not rewritten: the file may be the other mode's, owned by another user.
replace_file() {
  printf '%s\n' "$2" >"$1.$$" && mv -f -- "$1.$$" "$1"
}

# A topic that both the record and Kafka know, with another id now. A topic only one of them
# knows is no obstacle: an ingress added since starts where its consumer group is, one taken
# out is not read.
topics_recreated() {
  local topic id recorded
  while read -r topic id; do
    recorded=$(awk -v topic="$topic" '$1 == topic { print $2 }' "$record")
    if [ -n "$recorded" ] && [ "$recorded" != "$id" ]; then
      return 0
    fi
  done <<<"$current_topics"
  return 1
}

# python-worker's GET /health (its JSON body) at the host and port of module.yaml's endpoint,
# within 30 s; bash's /dev/tcp, as neither curl nor wget is everywhere.
python_worker_health() {
  local address host port answer
  address=$(sed -n 's#^ *urlPathTemplate: *http://\([^/ ]*\).*#\1#p' "$module" | head -n 1)
  host=${address%%:*} port=${address##*:}
  for _ in $(seq 30); do
    if answer=$( (exec 3<>"/dev/tcp/$host/$port" && printf 'GET /health HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3 &&
      cat <&3) 2>/dev/null) && [[ $answer == *'"functions"'* ]]; then
      echo "${answer##*$'\r\n\r\n'}"
      return 0
    fi
    sleep 1
  done
  return 1
}

# From that body: the functions served, a typename a line ("ververica/counter"), and the state
# they declare, "<function> <name> <type>" a line (the only strings with two spaces in it).
functions_in() {
  grep -o '"[A-Za-z0-9_.-]*/[A-Za-z0-9_.-]*"' <<<"$1" | tr -d '"' | sort || true
}
state_in() {
  grep -o '"[^" ]* [^" ]* [^" ]*"' <<<"$1" | tr -d '"' | sort || true
}

# The newest checkpoint's state that this python-worker cannot take: functions it no longer
# serves, and state values it now declares with another type. Empty when all fits.
misfits() {
  local gone changed
  gone=$(comm -23 "$functions_record" <(printf '%s\n' "$served") | paste -sd ' ' -)
  changed=""
  if [ -f "$state_record" ]; then
    changed=$(awk 'NR == FNR { now[$1 " " $2] = $3; next }
      ($1 " " $2) in now && now[$1 " " $2] != $3 { print $1 " " $2 " was " $3 ", now " now[$1 " " $2] }' \
      <(printf '%s\n' "$declared") "$state_record" | paste -sd ';' - | sed 's/;/; /g')
  fi
  if [ -n "$gone" ]; then
    echo "state of $gone, which python-worker no longer serves${changed:+; and $changed}"
  elif [ -n "$changed" ]; then
    echo "state whose type main.py changed since ($changed): it would not read"
  fi
}

if [ "${1:-}" = "--forget" ]; then
  checkpoints=${2:?usage: last-state.sh --forget CHECKPOINT_DIR}
  # A JobManager answering on its REST port is using the folder: forgetting under it would
  # leave the running job without the checkpoints it restores from after a failure.
  rest_port=$(sed -n 's/^rest\.port: *\([0-9]*\).*/\1/p' "$(dirname "$0")/flink-conf.yaml")
  if (exec 3<>"/dev/tcp/127.0.0.1/${rest_port:-8001}") 2>/dev/null; then
    echo "a workshop is running (127.0.0.1:${rest_port:-8001} answers): stop it first (make down, or docker compose down)" >&2
    exit 1
  fi
  mkdir -p "$checkpoints"
  remove_job_folders_except ""
  rm -f -- "$checkpoints/kafka-topics" "$checkpoints/functions" "$checkpoints/state"
  say "forgot the checkpoints in $checkpoints: the next start begins with empty state (savepoints stay)"
  exit 0
fi

flink_conf=${LAST_STATE_FLINK_CONF:?set LAST_STATE_FLINK_CONF}
module=${LAST_STATE_MODULE:?set LAST_STATE_MODULE}
classpath=${LAST_STATE_CLASSPATH:?set LAST_STATE_CLASSPATH}
java=${LAST_STATE_JAVA:-java}
# A local folder (file://...), the last setting of the key winning as in Flink's own parser.
checkpoints=$(sed -n 's#^state\.checkpoints\.dir: *file://\([^ #]*\).*#\1#p' "$flink_conf" | tail -n 1)
if [ -z "$checkpoints" ]; then
  echo "last-state: $flink_conf has no state.checkpoints.dir of the form file:///folder" >&2
  exit 64
fi

if [ $# -eq 0 ]; then
  echo "usage: last-state.sh COMMAND [ARGS...]" >&2
  exit 64
fi

has_savepoint=false
for arg in "$@"; do
  case "$arg" in -s | --fromSavepoint) has_savepoint=true ;; esac
done

# The ingress topics and the broker, as module.yaml names them (one broker for all ingresses).
# shellcheck disable=SC2207 # topic names have no spaces; mapfile is not in macOS's bash 3.2
topics=($(sed -n 's/^ *- topic: *\([^ #]*\).*/\1/p' "$module"))
bootstrap=$(sed -n 's/^ *address: *\([^ #]*\).*/\1/p' "$module" | head -n 1)
# python-worker's answer is asked for meanwhile: both are on the way to every start. With the
# two flags below, measured Docker-free on 2 cores (2026-12-07), a warm `make up` took 25.8-34.4 s
# (3 runs) against 34.8-39.4 s (4 runs) before, and the first alert came 22.8-30.5 s after it began.
health_answer=$(mktemp)
python_worker_health >"$health_answer" &
health_query=$!
# A tool that runs for a second: the JIT's first tier and the serial collector start fastest.
if ! current_topics=$("$java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$classpath" \
  workshop.statefun.KafkaTopicIds "$bootstrap" "${topics[@]}"); then
  say "cannot read the topics' ids from Kafka at $bootstrap; starting again soon" >&2
  kill "$health_query" 2>/dev/null
  rm -f "$health_answer"
  exit 1
fi

# What python-worker serves now; unknown (empty) when it does not answer in time.
served="" declared=""
if wait "$health_query"; then
  health=$(cat "$health_answer")
  served=$(functions_in "$health")
  declared=$(state_in "$health")
else
  say "python-worker did not answer at its /health: its functions are not compared with the checkpoint's"
fi
rm -f "$health_answer"

mkdir -p "$checkpoints"
record="$checkpoints/kafka-topics"
functions_record="$checkpoints/functions"
state_record="$checkpoints/state"
newest=$(ls -1t "$checkpoints"/*/chk-*/_metadata 2>/dev/null | head -n 1 || true)
restore=()

if $has_savepoint; then
  say "starting from the savepoint given (-s), not from a checkpoint"
  remove_job_folders_except "${newest:+$(dirname "$(dirname "$newest")")}"
elif [ -z "$newest" ]; then
  say "no completed checkpoint in $checkpoints: starting with empty state"
  remove_job_folders_except ""
elif [ ! -f "$record" ]; then
  say "the checkpoints in $checkpoints have no record of the Kafka topics they read" \
    "(kafka-topics): starting with empty state and removing them"
  remove_job_folders_except ""
elif ! topics_recreated; then
  chk=$(dirname "$newest")
  # A function taken out of main.py since (an exercise's starting point), or a state value
  # declared with another type: a message on its way to the function would get python-worker's
  # 404 at every attempt and fail the job for ever, a value of the old type would not read.
  # Say so once and stop (exit 0: no restart policy starts it again).
  if [ -n "$served" ] && [ -f "$functions_record" ]; then
    misfit=$(misfits)
    if [ -n "$misfit" ]; then
      say "not started: the newest checkpoint ($chk) holds $misfit. Either start with empty state" \
        "(stop, \`make fresh\`, start again), or go back to the version that fits it (for a function" \
        "taken out: stop the traffic there, take a savepoint and start this version from it with" \
        "SAVEPOINT=..., whose allowNonRestoredState lets the function's state go)"
      exit 0
    fi
  fi
  say "resuming the newest completed checkpoint $chk (taken $(date -u -r "$newest" '+%Y-%m-%d %H:%M:%S UTC'))"
  restore=(-s "$chk" -n)
  remove_job_folders_except "$(dirname "$chk")"
else
  say "the checkpoints in $checkpoints read other Kafka topics than these (recreated since, e.g. by" \
    "\`down -v\`): starting with empty state and removing them"
  remove_job_folders_except ""
fi
replace_file "$record" "$current_topics"
if [ -n "$served" ]; then
  replace_file "$functions_record" "$served"
  replace_file "$state_record" "$declared"
fi

exec "$@" ${restore[@]+"${restore[@]}"}  # bash 3.2 (macOS) calls an empty array unset
