#!/usr/bin/env bash
# A throwaway PostgreSQL server for the records tests, from Debian's `postgresql` package (installed when missing).
#
#   eval "$(bash scripts/start_test_postgres.sh start)"   # prints the export lines of the variables below
#   bash scripts/start_test_postgres.sh stop "$ANOMALYLENS_TEST_POSTGRES_DIR"
#
# `start` creates a cluster in a new temporary folder (initdb refuses root: as root it runs as the `postgres` user),
# listening on 127.0.0.1 at a free port with its unix socket in that folder, trust authentication, and a database
# `anomalylens_test`. It prints:
#   ANOMALYLENS_TEST_POSTGRES_URL  the SQLAlchemy URL (postgresql+psycopg://...) of that database
#   ANOMALYLENS_TEST_POSTGRES_DIR  the folder (cluster, socket, log), for `stop`
#   ANOMALYLENS_TEST_POSTGRES_CTL  a wrapper `CTL stop|start` the tests use to stop the server mid-test
set -euo pipefail

find_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; fi
}

as_owner() {  # run a server command as the cluster's owner: `postgres` when we are root, else ourselves
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_postgres() {
    if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL is not installed; as root: apt-get install -y postgresql" >&2
        exit 1
    fi
    echo "installing PostgreSQL from Debian's package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local bin dir port
    bin=$(find_bin)
    if [ -z "$bin" ]; then install_postgres; bin=$(find_bin); fi
    dir=$(mktemp -d /tmp/anomalylens-postgres.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    port=$(free_port)
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >"$dir/ctl" <<CTL
#!/usr/bin/env bash
# Stop or start this throwaway server: ctl stop|start
set -euo pipefail
opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off"
case "\$1" in
    start) $( [ "$(id -u)" = 0 ] && echo "runuser -u postgres --" ) "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "\$opts" -w start ;;
    stop) $( [ "$(id -u)" = 0 ] && echo "runuser -u postgres --" ) "$bin/pg_ctl" -D "$dir/data" -m fast -w stop ;;
    *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
CTL
    chmod 755 "$dir/ctl"
    "$dir/ctl" start >&2
    as_owner "$bin/createdb" -h "$dir" -p "$port" -U postgres anomalylens_test
    echo "export ANOMALYLENS_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$port/anomalylens_test"
    echo "export ANOMALYLENS_TEST_POSTGRES_DIR=$dir"
    echo "export ANOMALYLENS_TEST_POSTGRES_CTL=$dir/ctl"
}

stop() {
    local dir=${1:?usage: $0 stop DIR}
    case "$dir" in /tmp/anomalylens-postgres.*) ;; *) echo "not a test server folder: $dir" >&2; exit 2 ;; esac
    if [ -f "$dir/data/postmaster.pid" ]; then "$dir/ctl" stop >&2 || true; fi
    rm -rf "$dir"
}

case "${1:-start}" in
    start) start ;;
    stop) shift; stop "$@" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
