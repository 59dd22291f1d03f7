# Shared by scripts/run and scripts/test: install what is missing, start what is not running.
# Never assumes a developer's machine: every step checks first and acts only when needed.

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

log() { printf '\033[1m[braid]\033[0m %s\n' "$*" >&2; }

listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

APT_UPDATED=""
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || { log "missing packages: ${missing[*]} (and no apt-get)"; return 1; }
  log "installing: ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# C toolchain and the libraries braid's crates build against (sqlx, aws-lc; samael's xmlsec).
ensure_build_deps() {
  apt_install build-essential pkg-config libssl-dev ca-certificates \
    libxml2-dev libxmlsec1-dev libxmlsec1-openssl xmlsec1 libclang1-14 libclang-common-14-dev
  command -v cargo >/dev/null 2>&1 || { log "cargo (Rust >= 1.85) is required: https://rustup.rs"; return 1; }
}

ensure_redis() {
  local port="${1:-6379}"
  listening 127.0.0.1 "$port" && return 0
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  log "starting Redis on 127.0.0.1:$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --logfile "${TMPDIR:-/tmp}/braid-redis.log" >/dev/null
  for _ in $(seq 1 50); do listening 127.0.0.1 "$port" && return 0; sleep 0.1; done
  log "Redis did not start"; return 1
}

pg_psql() {
  # Superuser access: TCP with trust (developer machines), else the local socket as postgres.
  if psql -w -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1 </dev/null; then
    psql -w -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
  else
    runuser -u postgres -- psql -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
  fi
}

ensure_postgres() {
  if ! listening 127.0.0.1 5432; then
    command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
    local ver
    ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
    if [ -z "$ver" ]; then
      ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
      log "creating PostgreSQL $ver cluster"
      $SUDO pg_createcluster "$ver" main >/dev/null
    fi
    log "starting PostgreSQL $ver"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    for _ in $(seq 1 100); do listening 127.0.0.1 5432 && break; sleep 0.1; done
  fi
  command -v psql >/dev/null 2>&1 || apt_install postgresql-client
  # The role the tests use; password auth works under both trust and scram.
  pg_psql -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='braid') THEN CREATE ROLE braid LOGIN CREATEDB PASSWORD 'braid'; END IF; END\$\$;"
}

# Node packages pinned by a committed lockfile, installed (again) when missing or stale.
ensure_npm_dir() {
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "installing node packages in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# pysaml2 (pinned by requirements.txt) in its own venv, installed (again) when requirements.txt
# is newer than the last install. pysaml2 signs with Debian's xmlsec1.
ensure_pysaml2_venv() {
  apt_install xmlsec1
  ensure_venv tests/interop/pysaml2
}

# A Python venv in $1/.venv with $1/requirements.txt installed (again when it changes).
ensure_venv() {
  local dir=$1
  local venv=$dir/.venv
  if [ ! -x "$venv/bin/pip" ]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3
    log "creating the venv in $venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian's python3 has no ensurepip without python3-venv.
      rm -rf "$venv"
      apt_install python3-venv
      python3 -m venv "$venv" >/dev/null
    fi
    rm -f "$venv/.requirements-stamp"
  fi
  if [ ! -f "$venv/.requirements-stamp" ] || [ "$dir/requirements.txt" -nt "$venv/.requirements-stamp" ]; then
    log "installing python packages in $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$dir/requirements.txt" >/dev/null || return 1
    touch "$venv/.requirements-stamp"
  fi
}

# Debian's nginx for the forward-auth test (run by the test itself on a free loopback port, never
# as the system service).
ensure_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || apt_install nginx
}

# Debian's Caddy for the forward_auth test (run by the test itself on a free loopback port with
# its admin endpoint off, never as the system service). Debian's package starts caddy.service
# when systemd runs; where it does not (containers), nothing is left running.
ensure_caddy() {
  command -v caddy >/dev/null 2>&1 || [ -x /usr/bin/caddy ] || apt_install caddy
}

# Headless Chromium, and the pinned packages of the browser and interop tests (the SMTP sink of
# the email tests among them).
ensure_node_tests() {
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  command -v node >/dev/null 2>&1 || apt_install nodejs npm
  ensure_npm_dir tests/browser
  ensure_npm_dir tests/interop/oidc-provider
  ensure_npm_dir tests/interop/samlify
  ensure_npm_dir tests/interop/rp-node
  ensure_venv tests/interop/rp-python
  ensure_pysaml2_venv
  ensure_venv tests/interop/openapi
  ensure_venv tests/interop/smtp
  ensure_venv tests/interop/logout
}

cluster_ok() {
  local p
  for p in "$@"; do
    redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}

# A Redis Cluster of three masters (no replicas) on 127.0.0.1:$1..$1+2 (7101-7103 by default), for
# the session-store tests against a cluster. Started and created only when not already up.
ensure_redis_cluster() {
  local base="${1:-7101}" dir="${TMPDIR:-/tmp}/braid-redis-cluster"
  local ports=("$base" "$((base + 1))" "$((base + 2))") nodes=()
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
  for p in "${ports[@]}"; do
    nodes+=("127.0.0.1:$p")
    listening 127.0.0.1 "$p" && continue
    # A node keeps no data (--save ""), so a node.conf left by an earlier run is only stale
    # cluster state that would make `--cluster create` refuse the node as "not empty".
    rm -rf "${dir:?}/$p"; mkdir -p "$dir/$p"
    log "starting a Redis Cluster node on 127.0.0.1:$p"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --dir "$dir/$p" --save "" --appendonly no \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --logfile "$dir/$p.log" >/dev/null
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 1 50); do listening 127.0.0.1 "$p" && break; sleep 0.1; done
  done
  if ! cluster_ok "${ports[@]}"; then
    # Nodes that already know a cluster may just be converging; give them a moment, then start over.
    for _ in $(seq 1 30); do cluster_ok "${ports[@]}" && break; sleep 0.1; done
  fi
  if ! cluster_ok "${ports[@]}"; then
    log "creating the Redis Cluster ${nodes[*]}"
    for p in "${ports[@]}"; do
      redis-cli -p "$p" flushall >/dev/null 2>&1 || true
      redis-cli -p "$p" cluster reset hard >/dev/null 2>&1 || true
    done
    local out
    if ! out=$(redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes 2>&1); then
      printf '%s\n' "$out" >&2
      log "could not create the Redis Cluster ${nodes[*]}"; return 1
    fi
  fi
  for _ in $(seq 1 100); do
    local ok=1
    for p in "${ports[@]}"; do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
    done
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  log "the Redis Cluster on ${nodes[*]} is not ok"; return 1
}

# One Redis master ($1, 7201) with one replica ($1+1) and three sentinels ($2, 26401, and the next
# two) watching it as `braid`, for the session-store tests through Sentinel. Each part is started
# only when nothing listens on its port; a failover may have made the replica the master, which
# the sentinels keep track of.
ensure_redis_sentinel() {
  local base="${1:-7201}" sbase="${2:-26401}" dir="${TMPDIR:-/tmp}/braid-redis-sentinel"
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  command -v redis-sentinel >/dev/null 2>&1 || apt_install redis-sentinel
  mkdir -p "$dir"
  local p
  for p in "$base" "$((base + 1))"; do
    listening 127.0.0.1 "$p" && continue
    local extra=()
    [ "$p" != "$base" ] && extra=(--replicaof 127.0.0.1 "$base")
    log "starting Redis on 127.0.0.1:$p for Sentinel"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --dir "$dir" --dbfilename "dump-$p.rdb" \
      --save "" --appendonly no --logfile "$dir/$p.log" "${extra[@]}" >/dev/null
  done
  for p in "$base" "$((base + 1))"; do
    for _ in $(seq 1 50); do listening 127.0.0.1 "$p" && break; sleep 0.1; done
  done
  for p in "$sbase" "$((sbase + 1))" "$((sbase + 2))"; do
    listening 127.0.0.1 "$p" && continue
    cat >"$dir/sentinel-$p.conf" <<CONF
bind 127.0.0.1
port $p
daemonize yes
dir $dir
logfile $dir/sentinel-$p.log
pidfile $dir/sentinel-$p.pid
sentinel monitor braid 127.0.0.1 $base 2
sentinel down-after-milliseconds braid 2000
sentinel failover-timeout braid 10000
sentinel parallel-syncs braid 1
CONF
    log "starting Redis Sentinel on 127.0.0.1:$p"
    redis-sentinel "$dir/sentinel-$p.conf" >/dev/null
  done
  for p in "$sbase" "$((sbase + 1))" "$((sbase + 2))"; do
    for _ in $(seq 1 50); do listening 127.0.0.1 "$p" && break; sleep 0.1; done
    listening 127.0.0.1 "$p" || { log "Redis Sentinel on $p did not start"; return 1; }
  done
  # Ready when a sentinel names a master that answers as one.
  for _ in $(seq 1 100); do
    local addr
    addr=$(redis-cli -p "$sbase" sentinel get-master-addr-by-name braid 2>/dev/null | tr '\n' ' ')
    set -- $addr
    if [ -n "${2:-}" ] && redis-cli -h "$1" -p "$2" role 2>/dev/null | head -1 | grep -q master; then return 0; fi
    sleep 0.1
  done
  log "Redis Sentinel does not name a master for braid"; return 1
}
