# syntax=docker/dockerfile:1
# The bridge as a container image: a static binary (no C library needed) on an empty base, running
# as an unprivileged user, with its config, registration and SQLite database in the /data volume.
#
#   docker build -t matrix-whatsapp --build-arg VERSION=$(git describe --tags) --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run --rm -v mw-data:/data matrix-whatsapp -g -c /data/config.yaml -r /data/registration.yaml
#   docker run -d -v mw-data:/data -p 29318:29318 matrix-whatsapp
#
# `make static` builds and checks the same binary without a container engine.

FROM golang:1.26-alpine AS build
RUN apk add --no-cache ca-certificates
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
# goolm: mautrix-go's pure-Go Olm implementation, for end-to-bridge encryption without a C library.
# nodynamic: the sticker WebP encoder runs its WebAssembly build and never loads a system libwebp,
# so the binary stays static.
RUN CGO_ENABLED=0 go build -tags goolm,nodynamic -trimpath \
      -ldflags "-s -w -X github.com/matrix-whatsapp/matrix-whatsapp/internal/version.Tag=${VERSION} -X github.com/matrix-whatsapp/matrix-whatsapp/internal/version.Commit=${COMMIT}" \
      -o /out/matrix-whatsapp ./cmd/matrix-whatsapp \
 && /out/matrix-whatsapp -version \
 && mkdir -p /out/data /out/tmp \
 && cp example-config.yaml /out/example-config.yaml

FROM scratch
# TLS roots for WhatsApp's servers and an HTTPS homeserver.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/matrix-whatsapp /usr/bin/matrix-whatsapp
COPY --from=build /out/example-config.yaml /usr/share/matrix-whatsapp/example-config.yaml
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /data
COPY --from=build --chmod=1777 /out/tmp /tmp
USER 65532:65532
WORKDIR /data
VOLUME /data
# Listen on all interfaces inside the container (the config file's default is loopback only).
ENV MATRIX_WHATSAPP_APPSERVICE_HOSTNAME=0.0.0.0
# 29318: appservice API and health checks; 8001: metrics, when metrics.enabled is set (then also
# set MATRIX_WHATSAPP_METRICS_LISTEN=0.0.0.0:8001).
EXPOSE 29318 8001
ENTRYPOINT ["/usr/bin/matrix-whatsapp"]
CMD ["-c", "/data/config.yaml", "-r", "/data/registration.yaml"]
