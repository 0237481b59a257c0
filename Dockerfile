# syntax=docker/dockerfile:1
# Strata's image: a release build on Debian bookworm, run from bookworm-slim
# as a non-root user. Configuration: the file named by STRATA_CONFIG
# (default /etc/strata/strata.toml: deploy/standalone.toml, memory caches
# and one API key; Compose and Kubernetes mount deploy/strata.toml there),
# overridden key by key from the environment as STRATA__SECTION__KEY
# (docs/operations.md "Deploy"). Alone, with a fresh key:
#
#   docker build -t strata .
#   KEY=$(openssl rand -hex 32)
#   docker run -p 8080:8080 -e STRATA__AUTH__API_KEYS__APP__SHA256=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1) strata
#   curl -H "Authorization: Bearer $KEY" -X PUT -d hello http://localhost:8080/v1/caches/default/entries/greeting

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
COPY deploy/standalone.toml /etc/strata/strata.toml
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
