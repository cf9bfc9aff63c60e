# syntax=docker/dockerfile:1
# ml-operator container image: the release binary on Debian slim with git and openssh-client
# (git delivery runs Debian's git CLI) and CA certificates, running as the non-root user 65532
# with a read-only root filesystem (the chart mounts an emptyDir at /tmp for git's clones).
#
#   docker build -t ml-operator:0.1.0 --build-arg VERSION=0.1.0 .
#   docker run --rm ml-operator:0.1.0 check -f /hub --tags /hub/tags.json   # (mount -v $PWD/examples:/hub)

# The compiler link/ml-operator.order was written for (build.rs uses it only with that one: the
# operator's code laid out in the order it runs, ~8 MiB less resident; docs/development.md).
# Any 1.89 or later builds; another one without that order.
ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Only what the build needs (.dockerignore keeps target/, .git/ and .tools/ out).
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ml-operator \
    && install -D -m 0755 target/release/ml-operator /out/ml-operator

FROM debian:bookworm-slim AS runtime
# git and ssh for upgrades.delivery: git; nothing else (no recommends), lists removed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ml-operator" \
      org.opencontainers.image.description="Finds Mojaloop (and any) container images with newer allowed tags, tells Hub operators, and upgrades on approval." \
      org.opencontainers.image.source="https://github.com/mojaloop/ml-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ml-operator /usr/local/bin/ml-operator
# The non-root user (ssh needs it in /etc/passwd; distroless's IDs); the Helm chart and kustomize base run with the same IDs.
USER 65532:65532
# The image-watcher API, /healthz, /readyz and /metrics (--listen, ML_OPERATOR_LISTEN).
EXPOSE 4006
ENTRYPOINT ["ml-operator"]
CMD ["run"]
