# syntax=docker/dockerfile:1
# Strata's image: a release build on Debian bookworm, run from bookworm-slim
# as a non-root user. Configuration: the mounted file named by STRATA_CONFIG
# (default /etc/strata/strata.toml), overridden key by key from the
# environment as STRATA__SECTION__KEY (docs/operations.md "Deploy").
#
#   docker build -t strata .
#   docker run -p 8080:8080 -v $PWD/deploy/strata.toml:/etc/strata/strata.toml:ro strata

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The build command .ci/run also runs (it reads this line), so the image's
# build is exercised on every CI run without a Docker engine.
RUN cargo build --release --locked --bin strata

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/strata --create-home strata \
 && mkdir -p /etc/strata
COPY --from=build /src/target/release/strata /usr/local/bin/strata
COPY deploy/strata.toml /etc/strata/strata.toml
USER 10001:10001
WORKDIR /var/lib/strata
ENV STRATA_CONFIG=/etc/strata/strata.toml \
    STRATA__SERVER__LISTEN=0.0.0.0:8080 \
    STRATA__SERVER__GRPC_LISTEN=0.0.0.0:9092 \
    STRATA__LOG__FORMAT=json
EXPOSE 8080 9092
HEALTHCHECK --interval=10s --timeout=2s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health/live || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["serve"]
