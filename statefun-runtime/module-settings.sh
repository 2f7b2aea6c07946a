#!/bin/bash
# The module.yaml settings that an environment variable chooses, written before the runtime
# starts: master and worker both run this (the Dockerfile's entry point), and the Docker-free
# launcher runs it too (local/rendering.py). Each variable rewrites the lines of module.yaml
# marked "# NAME" with its name, and a bad value stops here, before anything starts.
#
#   module-settings.sh MODULE_YAML
#     ALERT_DELIVERY  exactly-once (default) | at-least-once: the Kafka egress's delivery
#     CALL_TIMEOUT    unset (module.yaml's own) | a duration such as 30min: how long the runtime
#                     waits for python-worker's answer; a debug setting (README "Debug a function")
set -euo pipefail
module=$1
delivery=${ALERT_DELIVERY:-exactly-once}
call_timeout=${CALL_TIMEOUT:-}

refuse() {
  echo "$*" >&2
  exit 64
}

case "$delivery" in
  exactly-once | at-least-once) ;;
  *) refuse "ALERT_DELIVERY=$delivery is not a delivery: use exactly-once (the default) or at-least-once" ;;
esac
# Whole seconds or minutes, as Flink's duration parser reads them (90s, 30min), up to an hour:
# python-worker-lb waits that long for a replica (docker/python-worker-lb/haproxy.cfg).
if [ -n "$call_timeout" ]; then
  seconds=0
  if [[ "$call_timeout" =~ ^([1-9][0-9]{0,3})s$ ]]; then
    seconds=${BASH_REMATCH[1]}
  elif [[ "$call_timeout" =~ ^([1-9][0-9]?)min$ ]]; then
    seconds=$((BASH_REMATCH[1] * 60))
  fi
  if ((seconds == 0 || seconds > 3600)); then
    refuse "CALL_TIMEOUT=$call_timeout is not a call timeout: use whole seconds or minutes up to an hour, e.g. 30min"
  fi
fi

text=$(cat "$module")

# set_marked NAME VALUE: VALUE on each line "key: value  # NAME". A module.yaml without such a
# line (an older or generated one) keeps its own value, and asking it for another is an error.
set_marked() {
  local name=$1 value=$2 marker="^( *[a-zA-Z]+: )[^#]*[^# ]( +# $1)\$"
  if ! grep -Eq "$marker" <<<"$text"; then
    refuse "$name=$value: $module has no line marked '# $name' to set"
  fi
  text=$(sed -E "s/$marker/\\1$value\\2/" <<<"$text")
}

if [ "$delivery" != exactly-once ] || grep -Eq '# ALERT_DELIVERY$' <<<"$text"; then
  set_marked ALERT_DELIVERY "$delivery"
fi
if [ -n "$call_timeout" ]; then
  set_marked CALL_TIMEOUT "$call_timeout"
fi

# Written only when it changes, and in place (not sed -i): the runtime's user may write the
# file but not its folder, and Kubernetes mounts it read-only from a ConfigMap.
if [ "$text" != "$(cat "$module")" ] && ! printf '%s\n' "$text" 2>/dev/null >"$module"; then
  refuse "$module is read-only: set ALERT_DELIVERY and CALL_TIMEOUT in that file instead"
fi
echo "Alerts and dead letters are delivered $delivery (ALERT_DELIVERY)."
if [ -n "$call_timeout" ]; then
  echo "Calls to the functions may take $call_timeout (CALL_TIMEOUT): a debug setting, unset it before measuring anything."
fi
