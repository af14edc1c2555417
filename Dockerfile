# weir-controller image: `docker build -t weir-controller:0.1.0 .`
#
# Build stage: the official Rust image (Debian bookworm) has the C toolchain, pkg-config and
# libssl-dev that libgit2's HTTPS and SSH transports link against.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# benches/ only because Cargo.toml declares the bench targets; they are not built.
COPY benches benches
COPY src src
RUN cargo build --release --locked --bin weir-controller \
 && strip target/release/weir-controller

# Runtime stage: distroless cc has exactly the shared libraries the binary links (glibc,
# libgcc_s, libssl3/libcrypto3, zlib) plus CA certificates — no shell, no package manager.
# The nonroot variant runs as 65532, matching the Deployment's runAsUser, and the binary
# needs no writable path besides WEIR_GIT_CACHE_DIR (an emptyDir).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/weir-controller /usr/local/bin/weir-controller
USER 65532:65532
EXPOSE 8080 8090
ENTRYPOINT ["/usr/local/bin/weir-controller"]
