#!/bin/sh
# As Temurin's entry point when USE_SYSTEM_CA_CERTS is unset (the workshop never sets it): run the command.
exec "$@"
