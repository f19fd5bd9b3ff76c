# Shared helpers for scripts/*.sh (sourced, not run).

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.1 s until it succeeds.
wait_for() {
    local seconds=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + seconds ))
    until "$@" >/dev/null 2>&1; do
        if (( $(date +%s) >= deadline )); then
            echo "timed out after ${seconds}s waiting for $what" >&2
            return 1
        fi
        sleep 0.1
    done
}

# Installs Debian packages that are missing (idempotent; apt-get update only when needed).
#   ensure_apt [--no-install-recommends] PACKAGE...
ensure_apt() {
    local options=()
    if [[ "${1:-}" == --no-install-recommends ]]; then options+=("$1"); shift; fi
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    (( ${#missing[@]} == 0 )) && return 0
    echo "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${options[@]}" "${missing[@]}" >/dev/null
}

# report_disk WHEN: one line with the free space where cargo builds and the size of target/, so a
# build that runs out of disk says so up front rather than as a linker's bus error.
report_disk() {
    local free target_size
    free=$(df -Ph . | awk 'NR == 2 {print $4}')
    target_size=$(du -sh target 2>/dev/null | cut -f1 || true)
    echo "disk $1: ${free} free, target/ ${target_size:-absent}"
}
