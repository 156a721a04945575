#!/usr/bin/env bash
# shellcheck shell=bash
#
# Throwaway PostgreSQL cluster for the test suite. Source this file, then:
#
#   pg_start   # initdb + start a private cluster on a free 127.0.0.1 port, create
#              # database chatledger_test, export CHATLEDGER_TEST_POSTGRES_URL
#   pg_stop    # stop it (-m fast) and delete its temp dir; idempotent
#
# Each pg_start uses its own `mktemp -d` directory (data, unix socket, log) and its
# own port, so several shells can run clusters at the same time. The server
# refuses to run as root, so when we are root initdb/pg_ctl run as the `postgres`
# OS user (created if missing). Functions return non-zero on failure (they never
# exit the calling shell themselves) and leave the caller's shell options alone.

# State of this shell's cluster (kept if the file is sourced again).
_CHATLEDGER_PG_DIR="${_CHATLEDGER_PG_DIR:-}"
_CHATLEDGER_PG_BINDIR="${_CHATLEDGER_PG_BINDIR:-}"

_pg_log() {
    echo "postgres.sh: $*" >&2
}

_pg_is_root() {
    [ "$(id -u)" = "0" ]
}

# Run a command as the cluster owner: `postgres` when we are root, else ourselves.
_pg_as_owner() {
    if ! _pg_is_root; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

_pg_bindir_ok() {
    [ -n "$1" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]
}

_pg_find_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        if _pg_bindir_ok "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null |
        sort -V | tail -n 1)"
    if _pg_bindir_ok "$dir"; then
        printf '%s\n' "$dir"
        return 0
    fi
    return 1
}

# apt-get install postgresql without letting the package create/start the
# distribution's "main" cluster (we never use it).
_pg_apt_install() {
    if ! _pg_is_root; then
        _pg_log "PostgreSQL server binaries not found and not root: cannot apt-get install postgresql"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        _pg_log "PostgreSQL server binaries not found and apt-get is unavailable"
        return 1
    fi
    _pg_log "PostgreSQL server binaries not found; installing via apt-get (this takes a while)"
    (
        export DEBIAN_FRONTEND=noninteractive
        conf=/etc/postgresql-common/createcluster.conf
        backup=""
        policy_created=""
        # shellcheck disable=SC2329  # invoked via trap
        cleanup() {
            [ -n "$policy_created" ] && rm -f /usr/sbin/policy-rc.d
            [ -n "$backup" ] && mv -f "$backup" "$conf"
            return 0
        }
        trap cleanup EXIT
        # Do not start any service during installation.
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d &&
                chmod 755 /usr/sbin/policy-rc.d &&
                policy_created=1
        fi
        apt_install() {
            local opts=(-y -q --no-install-recommends
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
            apt-get install "${opts[@]}" "$@" ||
                { apt-get update -q && apt-get install "${opts[@]}" "$@"; }
        }
        # postgresql-common first, so its createcluster.conf can disable the
        # automatic "main" cluster before the server package is configured.
        if [ ! -f "$conf" ]; then
            apt_install postgresql-common || exit 1
        fi
        if [ -f "$conf" ]; then
            backup="$conf.chatledger-bak"
            cp -p "$conf" "$backup" &&
                sed -i -E 's/^[#[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' "$conf"
        fi
        apt_install postgresql
    )
}

_pg_ensure_user() {
    _pg_is_root || return 0
    id -u postgres >/dev/null 2>&1 && return 0
    _pg_log "creating OS user 'postgres'"
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
        --shell /bin/sh postgres
}

_pg_free_port() {
    python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

_pg_print_log() {
    local f="$1"
    if [ -s "$f" ]; then
        echo "----- $f -----" >&2
        cat "$f" >&2
        echo "----- end of $(basename "$f") -----" >&2
    fi
}

# The cluster serves TLS too, with a server certificate for 127.0.0.1 signed by a CA made
# here: tests connect with sslmode=verify-full and the CA (CHATLEDGER_TEST_POSTGRES_CA), and
# are refused with another. Clients that ask for nothing get TLS where libpq prefers it.
_pg_tls() {
    local dir="$1" data="$2" tls="$1/tls"
    if ! command -v openssl >/dev/null 2>&1 && _pg_is_root && command -v apt-get >/dev/null 2>&1; then
        _pg_log "openssl not found; installing it via apt-get (for the cluster's TLS certificates)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null 2>&1; }
    fi
    if ! command -v openssl >/dev/null 2>&1; then
        _pg_log "no openssl: the cluster serves no TLS (the TLS tests fail under CI)"
        return 0
    fi
    mkdir -p "$tls" || return 1
    if ! (cd "$tls" &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.crt -days 3 -subj "/CN=ChatLedger test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj "/CN=localhost" &&
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext &&
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out server.crt -days 3 -extfile server.ext) >"$dir/tls.log" 2>&1; then
        _pg_log "could not make the TLS certificates"
        _pg_print_log "$dir/tls.log"
        return 1
    fi
    chmod 600 "$tls/server.key" "$tls/ca.key" || return 1
    if _pg_is_root; then
        chown -R postgres:postgres "$tls" || return 1
    fi
    printf "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n" \
        "$tls/server.crt" "$tls/server.key" >>"$data/postgresql.conf" || return 1
    export CHATLEDGER_TEST_POSTGRES_CA="$tls/ca.crt"
}

# Runs with errexit ignored (called from `||`), so every step checks its status.
_pg_start_impl() {
    local bindir dir data sock log pw pwfile locale port attempt started seen
    bindir="$(_pg_find_bindir)" || {
        _pg_apt_install || return 1
        bindir="$(_pg_find_bindir)" || {
            _pg_log "no PostgreSQL server binaries found even after apt-get install"
            return 1
        }
    }
    _CHATLEDGER_PG_BINDIR="$bindir"
    _pg_ensure_user || { _pg_log "could not create the postgres OS user"; return 1; }

    # Always under /tmp: short enough for the unix socket path, and reachable by
    # the postgres user (a root-only $TMPDIR would not be).
    dir="$(mktemp -d /tmp/chatledger-pg.XXXXXXXX)" || return 1
    _CHATLEDGER_PG_DIR="$dir"
    data="$dir/data"
    sock="$dir/socket"
    log="$dir/server.log"
    pwfile="$dir/pwfile"

    pw="$(python3 -c 'import secrets; print(secrets.token_hex(16))')" || return 1
    mkdir -m 700 "$sock" || return 1
    (umask 077 && printf '%s\n' "$pw" >"$pwfile") || return 1
    if _pg_is_root; then
        chown -R postgres:postgres "$dir" || return 1
    fi
    chmod 700 "$dir" || return 1

    # C.UTF-8 gives UTF-8 aware lower()/upper() and deterministic collation.
    if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
        locale="--locale=C.UTF-8"
    else
        locale="--no-locale"
    fi
    # cd: the postgres user may not be able to access the caller's cwd.
    if ! (cd "$dir" && _pg_as_owner "$bindir/initdb" -D "$data" \
        --auth=scram-sha-256 --username=postgres --pwfile="$pwfile" \
        --encoding=UTF8 "$locale" >"$dir/initdb.log" 2>&1); then
        _pg_log "initdb failed"
        _pg_print_log "$dir/initdb.log"
        return 1
    fi
    rm -f "$pwfile"

    # Test-friendly settings; fsync and synchronous_commit stay at their defaults.
    cat >>"$data/postgresql.conf" <<'EOF' || return 1

# --- chatledger test cluster (scripts/postgres.sh) ---
max_connections = 200
EOF
    _pg_tls "$dir" "$data" || return 1

    # A port picked via bind(0) could be grabbed by someone else before the server
    # binds it (e.g. another pg_start running concurrently): retry with a new one.
    started=""
    for attempt in 1 2 3 4 5; do
        port="$(_pg_free_port)" || return 1
        seen="$({ wc -l <"$log"; } 2>/dev/null || echo 0)"
        if (cd "$dir" && _pg_as_owner "$bindir/pg_ctl" -w -t 60 -D "$data" -l "$log" \
            -o "-h 127.0.0.1 -p $port -k $sock" start >/dev/null 2>&1); then
            started=1
            break
        fi
        if tail -n "+$((seen + 1))" "$log" 2>/dev/null |
            grep -qiE 'could not (bind|create listen socket)|address already in use'; then
            _pg_log "port $port was taken (attempt $attempt), retrying with another port"
            continue
        fi
        break
    done
    if [ -z "$started" ]; then
        _pg_log "PostgreSQL failed to start (data dir $data)"
        _pg_print_log "$log"
        return 1
    fi

    local i=0
    until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U postgres; do
        i=$((i + 1))
        if [ "$i" -ge 60 ]; then
            _pg_log "PostgreSQL did not become ready on 127.0.0.1:$port"
            _pg_print_log "$log"
            return 1
        fi
        sleep 0.5
    done

    if ! PGPASSWORD="$pw" PGCONNECT_TIMEOUT=10 "$bindir/createdb" -h 127.0.0.1 -p "$port" \
        -U postgres -E UTF8 chatledger_test; then
        _pg_log "createdb chatledger_test failed"
        _pg_print_log "$log"
        return 1
    fi

    export CHATLEDGER_TEST_POSTGRES_URL="postgresql://postgres:${pw}@127.0.0.1:${port}/chatledger_test"
    _pg_log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port ($dir)"
    return 0
}

pg_start() {
    if [ -n "$_CHATLEDGER_PG_DIR" ] && [ -d "$_CHATLEDGER_PG_DIR" ]; then
        _pg_log "pg_start: a cluster is already running in $_CHATLEDGER_PG_DIR; reusing it"
        return 0
    fi
    local rc=0
    _pg_start_impl || rc=$?
    if [ "$rc" -ne 0 ]; then
        pg_stop
        return "$rc"
    fi
    return 0
}

# True while process $1 exists and is not a zombie.
_pg_pid_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/stat" ]; then
        state="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
        [ "$state" != "Z" ] || return 1
    fi
    return 0
}

pg_stop() {
    local dir="$_CHATLEDGER_PG_DIR" bindir="$_CHATLEDGER_PG_BINDIR" pid="" i
    _CHATLEDGER_PG_DIR=""
    _CHATLEDGER_PG_BINDIR=""
    unset CHATLEDGER_TEST_POSTGRES_URL CHATLEDGER_TEST_POSTGRES_CA
    [ -n "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        # The postmaster pid is the first line of postmaster.pid.
        pid="$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)"
        case "$pid" in '' | *[!0-9]*) pid="" ;; esac
        if [ -n "$bindir" ] &&
            ! (cd "$dir" && _pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 \
                stop >/dev/null 2>&1); then
            (cd "$dir" && _pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 \
                stop >/dev/null 2>&1) || true
        fi
    fi
    # pg_ctl returns once postmaster.pid is gone, which can be a moment before the
    # process has fully exited: wait for it, and kill it as a last resort.
    if [ -n "$pid" ]; then
        i=0
        while _pg_pid_alive "$pid" && [ "$i" -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if _pg_pid_alive "$pid"; then
            _pg_log "postmaster $pid did not exit; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        # The exited postmaster was reparented to init; some container inits reap
        # orphans only periodically, so give it a moment to vanish entirely.
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
    fi
    case "$dir" in
        /tmp/chatledger-pg.*) rm -rf "$dir" ;;
    esac
    return 0
}
