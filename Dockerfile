# braid in a container: built from source in Rust's image, run as an unprivileged user in a slim
# Debian with the libraries SAML verification needs (libxml2, xmlsec1 with OpenSSL).
#   docker build -t braid .
#   docker run -p 8080:8080 -v braid-keys:/var/lib/braid/keys braid serve --config /etc/braid/braid.toml

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev libxml2-dev libxmlsec1-dev \
      libxmlsec1-openssl libclang-dev clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a change to braid's code does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src/bin && echo 'fn main() {}' > src/main.rs && echo 'fn main() {}' > src/bin/braid-bench.rs \
 && touch src/lib.rs && cargo build --release --locked --bin braid || true
COPY src src
COPY migrations migrations
COPY assets assets
COPY templates templates
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin braid

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libxml2 libxmlsec1 libxmlsec1-openssl libxslt1.1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/braid --shell /usr/sbin/nologin braid \
 && mkdir -p /var/lib/braid/keys /etc/braid/providers \
 && chown -R braid /var/lib/braid
COPY --from=build /src/target/release/braid /usr/local/bin/braid
USER braid
WORKDIR /var/lib/braid
# The signing keys: made on first start; share this volume between replicas.
VOLUME ["/var/lib/braid/keys"]
EXPOSE 8080
ENTRYPOINT ["braid"]
CMD ["serve", "--config", "/etc/braid/braid.toml"]
