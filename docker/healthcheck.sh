#!/bin/bash
# Container HEALTHCHECK: exit 0 when GET /healthz answers 200 (liveness: the
# process serves). bash's /dev/tcp keeps curl out of the runtime image.
# MICRORM_PORT is the port the server listens on (the image sets 8080);
# MICRORM_HEALTH_HOST the address to ask (default 127.0.0.1).
set -u
host=${MICRORM_HEALTH_HOST:-127.0.0.1}
port=${MICRORM_PORT:-8080}
# a peer that hangs up makes the write fail (exit 1) rather than kill us
trap '' PIPE
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf -v request 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host"
printf '%s' "$request" >&3 || exit 1
status_line=""
IFS= read -r -t 3 status_line <&3 || true
exec 3<&-
case "$status_line" in
    "HTTP/1."[01]" 200 "*) exit 0 ;;
    *) echo "healthcheck: /healthz on $host:$port answered: ${status_line:-nothing}" >&2; exit 1 ;;
esac
