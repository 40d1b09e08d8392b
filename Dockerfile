# The etl runner and the Shopify stand-in in one small image.
#
#   docker build -t etl .
#   docker run --rm etl run pipelines/example-jsonl.json
#
# docker-compose.yml builds this image for the `etl` service and, with the entrypoint overridden to
# `shopify-standin`, for the bundled Shopify stand-in. Its `reviews-seed` service builds the stage of
# that name (`docker build --target reviews-seed .`): scripts/generate-reviews with Python and psql,
# which loads generated reviews into the bundled PostgreSQL.
#
# Plain Dockerfile syntax only (no BuildKit-only features), so both the classic builder used by
# docker-compose v1 and BuildKit (docker compose v2) build it.

# Package.swift says swift-tools-version 6.1, but current dependencies (Hummingbird, swift-log,
# swift-service-lifecycle, ...) need tools 6.2+, and the project is developed and tested on 6.3.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------------
# The reviews generator, in an image of its own: the runner needs neither Python nor psql, so they
# stay out of the runtime image below (python3 and postgresql-client add about 100 MB, with perl for
# Debian's psql wrapper). It comes first: the runtime stays the default (last) target, and the
# classic builder, which builds every stage up to its target, builds only this one for
# `--target reviews-seed` (BuildKit builds only the stages a target needs anyway).
FROM ${RUNTIME_IMAGE} AS reviews-seed

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends postgresql-client python3 \
    && rm -rf /var/lib/apt/lists/*

COPY scripts/generate-reviews /usr/local/bin/generate-reviews

# It writes nothing but the rows it sends to PostgreSQL.
USER nobody
ENTRYPOINT ["generate-reviews"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------------
FROM ${SWIFT_IMAGE} AS build

# Headers of the C libraries wrapped by the system library targets (CCurl, CZlib, CCrypto,
# CRdKafka) and of SQLite (GRDB).
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libcurl4-openssl-dev libsqlite3-dev libssl-dev zlib1g-dev librdkafka-dev libxml2-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Resolve dependencies in their own layer, so that editing a source file does not fetch them again.
# Package.resolved is not versioned: versions resolve here, from Package.swift.
COPY Package.swift ./
RUN swift package resolve

# The manifest declares test targets, and SwiftPM refuses a package whose target folders are
# missing, so Tests/ is needed even though no test is built.
COPY Sources ./Sources
COPY Tests ./Tests

# Release builds with the Swift runtime and Foundation linked in statically: the runtime image then
# needs only the C libraries (libcurl, libsqlite3, libcrypto, zlib, libstdc++). `install -s` strips the symbol
# table (about a third of the binaries' size; the dynamic symbol table stays).
RUN swift build -c release --static-swift-stdlib --product etl \
    && swift build -c release --static-swift-stdlib --product shopify-standin \
    && bin="$(swift build -c release --static-swift-stdlib --show-bin-path)" \
    && install -D -s -m 0755 "$bin/etl" /staging/usr/local/bin/etl \
    && install -D -s -m 0755 "$bin/shopify-standin" /staging/usr/local/bin/shopify-standin

# ---------------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

# libcurl4 (with its TLS stack, libssl3, whose libcrypto hashes our batches too), libsqlite3-0 and
# librdkafka1 (Kafka), libxml2 (FoundationXML, the partner XML parser) are the binaries' C libraries; zlib1g, libstdc++6 and libgcc-s1 are already in the base image. curl is for the HEALTHCHECK (it reuses libcurl4).
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends ca-certificates curl libcurl4 libsqlite3-0 librdkafka1 libxml2 \
    && rm -rf /var/lib/apt/lists/*

# A non-root user. It may write only /var/lib/etl, the SQLite checkpoint store (mount a volume there
# to keep it across containers; a new named volume takes this directory's owner), and /app/out,
# where the jsonl sink of the example pipeline writes. /app itself stays root-owned.
RUN groupadd --system --gid 10001 etl \
    && useradd --system --uid 10001 --gid etl --home-dir /var/lib/etl --no-create-home \
        --shell /usr/sbin/nologin etl \
    && install -d -o etl -g etl -m 0750 /var/lib/etl \
    && install -d -m 0755 /app \
    && install -d -o etl -g etl -m 0755 /app/out

COPY --from=build /staging/usr/local/bin/ /usr/local/bin/

WORKDIR /app
# Pipeline files are resolved relative to /app: `etl run pipelines/shopify.json`. Every file of
# pipelines/ is copied, pipelines/reviews.json too, and the migrations they name (../migrations/…).
COPY pipelines ./pipelines
COPY migrations ./migrations
COPY examples ./examples

ENV ETL_STATE_PATH=/var/lib/etl/state.sqlite \
    ETL_QUEUE_PATH=/var/lib/etl/queues \
    ETL_HTTP_HOST=0.0.0.0 \
    ETL_HTTP_PORT=8080

EXPOSE 8080

USER etl

# Against the status server of `etl serve`. Other commands (run, resume, ...) serve nothing: a
# container running them reports unhealthy, which does not stop them. 127.0.0.1 rather than
# localhost, which may resolve to ::1 while the server listens on IPv4.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:${ETL_HTTP_PORT:-8080}/healthz" || exit 1

ENTRYPOINT ["etl"]
CMD ["serve"]
