#!/bin/bash
# ALERT_DELIVERY chooses the Kafka egress's delivery in module.yaml before the runtime starts:
# master and worker both run this (the Dockerfile's entry point), and the Docker-free launcher
# does the same in local/rendering.py. It rewrites the one line marked "# ALERT_DELIVERY".
#
#   alert-delivery.sh MODULE_YAML       ALERT_DELIVERY = exactly-once (default) | at-least-once
set -euo pipefail
module=$1
delivery=${ALERT_DELIVERY:-exactly-once}
marker='^( *type: )[a-z-]+( *# ALERT_DELIVERY)$'

case "$delivery" in
  exactly-once | at-least-once) ;;
  *)
    echo "ALERT_DELIVERY=$delivery is not a delivery: use exactly-once (the default) or at-least-once" >&2
    exit 64
    ;;
esac
if ! grep -Eq "$marker" "$module"; then
  # Another module.yaml (one without the mark) keeps its own delivery; asking for another is an error.
  [ "$delivery" = exactly-once ] && exit 0
  echo "ALERT_DELIVERY=$delivery: $module has no line marked '# ALERT_DELIVERY' to set" >&2
  exit 64
fi
rendered=$(sed -E "s/$marker/\\1$delivery\\2/" "$module")
# Written only when it changes, and in place (not sed -i): the runtime's user may write the
# file but not its folder, and Kubernetes mounts it read-only from a ConfigMap.
if [ "$rendered" != "$(cat "$module")" ] && ! printf '%s\n' "$rendered" 2>/dev/null >"$module"; then
  echo "ALERT_DELIVERY=$delivery: $module is read-only; set the delivery in that file instead" >&2
  exit 64
fi
echo "Alerts and dead letters are delivered $delivery (ALERT_DELIVERY)."
