#!/bin/sh
# Container entrypoint of microrm. Settings travel as MICRORM_<KEY>
# environment variables, which microrm reads itself (defaults < --config file
# < environment < flags); this script only fills in what differs in a
# container and picks the subcommand:
#   - host defaults to 0.0.0.0 (the binary's own default, 127.0.0.1, would be
#     unreachable from outside the container), state_dir to the volume, model
#     to the demo model shipped in the image;
#   - MICRORM_AUTH_TOKEN_FILE (a Docker/Kubernetes secret file) sets
#     MICRORM_AUTH_TOKEN, so the token need not sit in the environment spec;
#   - no arguments, or flags only, run `microrm serve [flags]`; a microrm
#     subcommand runs that; anything else is executed as given (e.g. sh).
# MICRORM_BIN names the binary (tests point it at a build tree).
set -eu

: "${MICRORM_BIN:=microrm}"
: "${MICRORM_HOST:=0.0.0.0}"
: "${MICRORM_STATE_DIR:=/var/lib/microrm}"
export MICRORM_HOST MICRORM_STATE_DIR

demo_model=/usr/share/microrm/models/demo.safetensors
if [ -z "${MICRORM_MODEL:-}" ] && [ -r "$demo_model" ]; then
    MICRORM_MODEL=$demo_model
    export MICRORM_MODEL
fi

if [ -n "${MICRORM_AUTH_TOKEN_FILE:-}" ]; then
    if [ ! -r "$MICRORM_AUTH_TOKEN_FILE" ]; then
        echo "microrm-entrypoint: MICRORM_AUTH_TOKEN_FILE=$MICRORM_AUTH_TOKEN_FILE is not readable" >&2
        exit 2
    fi
    # the first line, without its newline
    MICRORM_AUTH_TOKEN=$(head -n 1 "$MICRORM_AUTH_TOKEN_FILE" | tr -d '\r\n')
    export MICRORM_AUTH_TOKEN
fi

if [ $# -eq 0 ]; then
    set -- serve
fi
case "$1" in
    -*) set -- serve "$@" ;;
esac
case "$1" in
    serve | inspect | synth | train | adapt | eval | demo-model)
        exec "$MICRORM_BIN" "$@" ;;
    *)
        exec "$@" ;;
esac
