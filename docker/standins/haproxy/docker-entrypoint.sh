#!/bin/sh
# The real image's entry point contract: options alone mean haproxy's; haproxy itself runs
# in the foreground (-db) as a master with one worker process (-W), so that it is PID 1's
# child and a reload (SIGUSR2) works.
set -e

case "$1" in
  -*) set -- haproxy "$@" ;;
esac

if [ "$1" = haproxy ]; then
  shift
  set -- haproxy -W -db "$@"
fi

exec "$@"
