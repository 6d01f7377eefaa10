# microrm container image: a build stage with the -dev packages and meson, a
# slim runtime stage with only the shared libraries, a non-root user, the
# demo model, and the user state on a volume.
#
#   docker build -t microrm .
#   docker run -p 8080:8080 -v microrm-state:/var/lib/microrm microrm
#   docker run microrm --help                # flags go to `microrm serve`
#   docker run microrm inspect /usr/share/microrm/models/demo.safetensors
#
# Settings: MICRORM_<KEY> environment variables or flags (see docs/deploy.md).

FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        gcc libc6-dev meson ninja-build pkg-config \
        libmicrohttpd-dev libjansson-dev libopenblas-pthread-dev libuv1-dev liblmdb-dev \
        libhiredis-dev nettle-dev zlib1g-dev check \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release -De2e=false -Dbench=false \
 && ninja -C /build microrm \
 && install -D -m 0755 /build/microrm /out/usr/local/bin/microrm \
 && install -D -m 0644 models/demo.safetensors /out/usr/share/microrm/models/demo.safetensors \
 && install -D -m 0644 config/microrm.conf /out/usr/share/microrm/microrm.conf \
 && install -D -m 0755 docker/entrypoint.sh /out/usr/local/bin/microrm-entrypoint \
 && install -D -m 0755 docker/healthcheck.sh /out/usr/local/bin/microrm-healthcheck

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libjansson4 libopenblas0-pthread libuv1 liblmdb0 \
        libhiredis0.14 libnettle8 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 microrm \
 && useradd --system --uid 10001 --gid microrm --home-dir /var/lib/microrm --shell /usr/sbin/nologin microrm \
 && install -d -o microrm -g microrm -m 0750 /var/lib/microrm
COPY --from=build /out/ /
# one BLAS thread per request: requests, not BLAS, are the unit of parallelism
ENV MICRORM_HOST=0.0.0.0 \
    MICRORM_PORT=8080 \
    MICRORM_STATE_DIR=/var/lib/microrm \
    MICRORM_MODEL=/usr/share/microrm/models/demo.safetensors \
    OPENBLAS_NUM_THREADS=1
USER microrm
WORKDIR /var/lib/microrm
VOLUME ["/var/lib/microrm"]
EXPOSE 8080
# liveness only (/healthz); readiness (/readyz) is for the load balancer
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["microrm-healthcheck"]
# SIGTERM drains (requests in flight finish within drain_timeout_ms): give
# `docker stop -t` more than that
STOPSIGNAL SIGTERM
ENTRYPOINT ["microrm-entrypoint"]
CMD ["serve"]
