# syntax=docker/dockerfile:1
#
# helmgate container image.
#
#   docker build -t helmgate .
#   docker run --rm -p 8080:8080 --stop-timeout 35 \
#     -v "$PWD/helmgate.toml:/etc/helmgate/helmgate.toml:ro" helmgate
#
# The default config is conf/production.toml; mount your own over
# /etc/helmgate/helmgate.toml (and TLS cert/key wherever it points, readable by
# uid 10001). Validate a config with: docker run --rm -v ...:ro helmgate --config
# /etc/helmgate/helmgate.toml --check
#
# SIGTERM drains in-flight requests for up to [server] grace_period_secs
# (default 30 s), but `docker stop` sends SIGKILL after 10 s unless told
# otherwise: use --stop-timeout 35 / `docker stop -t 35`, compose's
# stop_grace_period: 35s, or Kubernetes' terminationGracePeriodSeconds.

############################################################ build
# The Rust that rust-toolchain.toml pins (the image does not read that file:
# it has this version as its only toolchain). .ci/lint-packaging.sh checks
# that the two agree.
FROM rust:1.95.0-bookworm AS build

# cmake builds zlib-ng (libz-ng-sys) for Pingora's compression support.
# Versions are not pinned: they come from the bookworm archive the base image
# tracks, and pinned Debian versions disappear at every point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# The patched Pingora crates ([patch.crates-io] in Cargo.toml).
COPY vendor ./vendor
# benches/ and bench/bare_pingora.rs only because Cargo.toml declares the
# `policy` bench and the `bare_pingora` example: cargo refuses a manifest whose
# declared targets are missing.
COPY benches ./benches
COPY bench/bare_pingora.rs ./bench/bare_pingora.rs
COPY src ./src
# Cache mounts keep the crate registry and build tree between builds (BuildKit);
# the binary is copied out of the cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && install -m 0755 target/release/helmgate /usr/local/bin/helmgate

############################################################ runtime
# Distroless: glibc, libgcc, CA certificates (for [upstream] tls) and nothing
# else; no shell, no package manager. The binary needs no other library.
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=build /usr/local/bin/helmgate /usr/local/bin/helmgate
# Default config: readable by everyone, owned by root so the process cannot
# rewrite it. Its upstream (127.0.0.1:3000) is a placeholder: mount your own.
COPY conf/production.toml /etc/helmgate/helmgate.toml

# A numeric user, so a runtime (Kubernetes' runAsNonRoot) can tell it is not
# root without /etc/passwd. 10001 rather than the image's nonroot (65532):
# mounted TLS keys made readable by uid 10001 for earlier images keep working.
USER 10001:10001

# 8080: HTTP proxy listener (conf/production.toml). 8443: conventional TLS
# listener if your config adds [[server.tls]]. 9901: admin (/healthz,
# /readyz, /metrics); the default config binds it to 127.0.0.1 only, which is
# enough for the HEALTHCHECK below: set [admin] listen = "0.0.0.0:9901" to
# scrape it from outside the container, and list the name it is scraped by in
# [admin] hosts (any Host but its IP address or localhost gets 421).
EXPOSE 8080 8443 9901

# No shell or curl here: the binary probes itself. `helmgate healthcheck` sends
# one HTTP/1.0 GET and exits 0 only on a 200 within 2 s. Needs [admin] listen
# in the config (present in the default) on port 9901.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/helmgate", "healthcheck", "--url", "http://127.0.0.1:9901/healthz"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/helmgate"]
CMD ["--config", "/etc/helmgate/helmgate.toml"]
