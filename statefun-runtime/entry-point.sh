#!/bin/bash
# The runtime image's entry point (master and worker), before the official image's own
# /docker-entry-point.sh:
#   1. module.yaml from the host, when docker-compose.yml mounts statefun-runtime/ at
#      MODULE_SOURCE: an edit (or `make exercise`) reaches the runtime at its next start, with
#      no image build. Without the mount (Kubernetes, a bare `docker run`) the image's own copy.
#   2. ALERT_DELIVERY and CALL_TIMEOUT written into it (module-settings.sh; a bad value stops here).
#   3. For master, the state to start with (last-state.sh; README "State lasts").
# umask 0000: what Flink writes into the bind-mounted checkpoint-dir/ and savepoint-dir/ stays
# removable by the host's user (and usable by the Docker-free mode, which runs as that user).
set -euo pipefail
umask 0000
if [ -f "$MODULE_SOURCE/module.yaml" ]; then
  cp "$MODULE_SOURCE/module.yaml" "$LAST_STATE_MODULE"
  echo "entry-point: module.yaml from the host's statefun-runtime/"
fi
/bin/bash /opt/statefun/module-settings.sh "$LAST_STATE_MODULE"
if [ "${ROLE:-}" = master ]; then
  exec /bin/bash /opt/statefun/last-state.sh /bin/bash /docker-entry-point.sh "$@"
fi
exec /bin/bash /docker-entry-point.sh "$@"
