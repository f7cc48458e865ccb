# syntax=docker/dockerfile:1

# Herald's container image: one static binary on distroless, run as a
# non-root user, with the embedded SQLite database in the /data volume.
#
#   docker build -t herald \
#     --build-arg VERSION="$(git describe --tags --always)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run -p 8080:8080 -v herald-data:/data herald
#
# cmd/herald's TestDockerfileBuild runs this file's go build command as it
# is written here, then checks the binary is static and that it serves.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# The modules first, so that a change of the source does not fetch them again.
COPY go.mod go.sum go.work go.work.sum ./
COPY sentryhook/go.mod sentryhook/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
# What `herald version` prints; each left empty falls back to what the go
# command records (herald.Version for the version).
ARG VERSION=
ARG COMMIT=
ARG DATE=
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w ${VERSION:+-X github.com/herald-dev/herald.Version=$VERSION} ${COMMIT:+-X github.com/herald-dev/herald/internal/buildinfo.commit=$COMMIT} ${DATE:+-X github.com/herald-dev/herald/internal/buildinfo.date=$DATE}" \
      -o /out/herald ./cmd/herald
# The volume's mount point, owned by the user Herald runs as: a new named
# volume takes its owner from it.
RUN mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd and tzdata, no shell. Its
# nonroot user is 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /usr/local/bin/herald
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# serve listens on HERALD_ADDR, and healthcheck asks that port.
ENV HERALD_ADDR=:8080
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/herald", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/herald"]
CMD ["serve", "--data-dir", "/data"]
