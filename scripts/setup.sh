#!/usr/bin/env bash
#   setup.sh - installs what Kruispunt needs (Debian 12 packages) and builds.
#
#   Sourced by demo.sh and test.sh. Usage: setup.sh [BUILD-DIR [MESON-OPTIONS...]]
#   Installs only what is missing; uses sudo when not root.
set -euo pipefail

KP_PACKAGES=(gcc libc6-dev pkg-config meson ninja-build libzmq3-dev libczmq-dev liblmdb-dev
             libprotobuf-c-dev protobuf-c-compiler libssl-dev libcmocka-dev libjansson-dev nats-server
             clang libclang-rt-14-dev libmicrohttpd-dev libsystemd-dev libraft-dev
             python3-zmq python3-protobuf)
#   What scripts/lint.sh needs on top.
KP_LINT_PACKAGES=(clang-format cppcheck)

#   kp_install [PACKAGE...]: installs those of the packages (default: KP_PACKAGES) that are missing.
kp_install() {
    local missing=() wanted=("$@")
    [ $# -gt 0 ] || wanted=("${KP_PACKAGES[@]}")
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

#   kp_build DIR [MESON-OPTIONS...]: configure (once) and build.
kp_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null
    fi
    ninja -C "$dir" >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    cd "$(dirname "$0")/.."
    kp_install
    kp_build "${1:-build}" "${@:2}"
fi
