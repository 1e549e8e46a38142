#!/usr/bin/env bash
# Build the base images docker/Dockerfile and docker/compose.yaml need, from Debian's own
# packages, for machines that cannot pull images from a registry (they still need to reach a
# Debian mirror and, for hpsearch's image, PyPI). Needs root (debootstrap) and podman (or docker:
# CONTAINER_ENGINE=docker).
#
#   sudo docker/build-local-bases.sh          # prints the base images' names at the end
#
# Images (an image that exists already is kept: delete it, or pass --rebuild, to build it again):
#   localhost/hpsearch-base/debian:bookworm-min   debootstrap --variant=minbase bookworm, imported
#   localhost/hpsearch-base/python:3.11-bookworm  Debian's python3 (3.11) in a venv on PATH
#   localhost/hpsearch-base/postgres:bookworm     Debian's postgresql (15), official entrypoint contract
# then use them in place of the public images (docker/README.md, "Without a registry"):
#   cd docker && podman-compose -f compose.yaml -f compose.local-bases.yaml up -d --build
#   docker build -f docker/Dockerfile --build-arg PYTHON_IMAGE=localhost/hpsearch-base/python:3.11-bookworm .
#
# Settings (environment): CONTAINER_ENGINE (podman), DEBIAN_MIRROR (http://deb.debian.org/debian),
# LOCAL_BASES_BUILD_OPTS (extra build options, e.g. "--network host").
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ENGINE="${CONTAINER_ENGINE:-podman}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
DEBIAN_IMAGE=localhost/hpsearch-base/debian:bookworm-min
PYTHON_IMAGE=localhost/hpsearch-base/python:3.11-bookworm
POSTGRES_IMAGE=localhost/hpsearch-base/postgres:bookworm
read -r -a BUILD_OPTS <<< "${LOCAL_BASES_BUILD_OPTS:-}"

rebuild=0
case "${1:-}" in
    --rebuild) rebuild=1 ;;
    "") ;;
    *) echo "usage: $0 [--rebuild]" >&2; exit 2 ;;
esac

say() { echo "build-local-bases: $*" >&2; }
exists() { [ "$rebuild" = 0 ] && "$ENGINE" image inspect "$1" >/dev/null 2>&1; }
need() {
    command -v "$1" >/dev/null || { say "error: $1 is not installed (apt-get install $2)"; exit 1; }
}

need "$ENGINE" "$ENGINE"

if exists "$DEBIAN_IMAGE"; then
    say "$DEBIAN_IMAGE exists, kept"
else
    need debootstrap debootstrap
    [ "$(id -u)" = 0 ] || { say "error: debootstrap needs root"; exit 1; }
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' EXIT
    start=$SECONDS
    say "debootstrap --variant=minbase $SUITE from $MIRROR"
    debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" > "$root.log" 2>&1 \
        || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
    rm -f "$root.log"
    # what a container image does not need: downloaded packages and package lists
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
    rm -f "$root"/etc/apt/sources.list
    cat > "$root"/etc/apt/sources.list.d/debian.sources <<SOURCES
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    # no recommended packages, no documentation: as Debian's official container images
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        > "$root"/etc/apt/apt.conf.d/90container
    printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
        > "$root"/etc/dpkg/dpkg.cfg.d/90container
    tar -C "$root" --numeric-owner -c . | "$ENGINE" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - "$DEBIAN_IMAGE" > /dev/null
    rm -rf "$root"
    trap - EXIT
    say "$DEBIAN_IMAGE built in $((SECONDS - start)) s"
fi

build() {  # build IMAGE CONTAINERFILE
    if exists "$1"; then
        say "$1 exists, kept"
        return
    fi
    local start=$SECONDS
    "$ENGINE" build "${BUILD_OPTS[@]}" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
        -f "$HERE/local-bases/$2" -t "$1" "$HERE/local-bases" > /dev/null
    say "$1 built in $((SECONDS - start)) s"
}
build "$PYTHON_IMAGE" python.Containerfile
build "$POSTGRES_IMAGE" postgres.Containerfile

echo "PYTHON_IMAGE=$PYTHON_IMAGE"
echo "POSTGRES_IMAGE=$POSTGRES_IMAGE"
