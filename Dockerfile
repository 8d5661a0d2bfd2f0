# dcs-session-exporter in a small image that runs as a non-root user.
#
#   docker build --build-arg REVISION="$(git rev-parse --short=12 HEAD)" -t dcs-session-exporter .
#
#   # The built-in simulator: no cloud account needed.
#   docker run --rm -p 9977:9977 dcs-session-exporter --demo
#
#   # Huawei Cloud: a directory holding your exporter.toml (config/exporter.toml explains every
#   # key) is mounted, and the credentials come from the environment.
#   docker run --rm -p 9977:9977 -e CLOUD_SDK_AK -e CLOUD_SDK_SK \
#       -v "$PWD/my-config:/etc/dcs-session-exporter:ro" dcs-session-exporter
#
# .dockerignore leaves .git out of the build context, so build.rs cannot ask git for the
# revision. Pass it as REVISION instead (it becomes DCS_EXPORTER_REVISION, and then the revision
# label of dcs_exporter_build_info). Without it the revision is "unknown".

# ---- build ----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src

# Strip symbols from the binary (about a fifth of its size: 18.6 MB down to 14.7 MB). This is
# set before both builds because a profile change would rebuild every dependency.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols

# 1. The dependencies, in a layer of their own: it is rebuilt only when Cargo.toml, Cargo.lock or
#    build.rs change. A placeholder crate with the real manifest and lock file compiles every
#    dependency. Only the library and the binary are built, so tests/ is not needed. If
#    Cargo.toml ever declares targets with explicit paths elsewhere ([[bin]], [[example]],
#    ...), copy those files here too.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# 2. The crate itself. COPY keeps the files' modification times, which can be older than the
#    placeholder built above; cargo would then take the placeholder as up to date. The touch
#    makes it rebuild the crate (and only the crate).
COPY src ./src
ARG REVISION=unknown
ENV DCS_EXPORTER_REVISION=${REVISION:-unknown}
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && ./target/release/dcs-session-exporter --version \
 && install -D -m 0755 target/release/dcs-session-exporter /out/dcs-session-exporter

# ---- runtime --------------------------------------------------------------------------------
# distroless/cc has what the binary needs and little else: glibc and libgcc_s from Debian 12,
# the same release as the builder, so the glibc versions match. It also has the CA certificates
# that rustls reads through the platform verifier, tzdata, and a "nonroot" user (65532). It has no
# shell and no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG REVISION=unknown
LABEL org.opencontainers.image.title="dcs-session-exporter" \
      org.opencontainers.image.description="Prometheus exporter of Huawei Cloud DCS client sessions and DBSS jobs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${REVISION}"

COPY --from=build /out/dcs-session-exporter /usr/local/bin/dcs-session-exporter

# The configuration is mounted at /etc/dcs-session-exporter/ (in Kubernetes, from a ConfigMap).
# It is not baked in, so that an image started without one fails at once and does not scan
# with example values. Credentials come from the environment (CLOUD_SDK_AK, CLOUD_SDK_SK and
# optionally HUAWEICLOUD_SDK_SECURITY_TOKEN), never from the image. Secrets the configuration
# reads from files (token_file, password_file, the --web.config.file TLS keys) are mounted too,
# for example under /run/secrets/.
USER 65532:65532
EXPOSE 9977

# There is no HEALTHCHECK because the image has no shell or curl to run one. Kubernetes probes
# /healthz (liveness) and /readyz (readiness) over HTTP instead, as config/kubernetes/ shows.
# SIGTERM, the default stop signal, shuts the exporter down gracefully.
ENTRYPOINT ["/usr/local/bin/dcs-session-exporter"]
CMD ["--config", "/etc/dcs-session-exporter/exporter.toml"]
