#!/usr/bin/env bash
# Installs (when missing) and starts (when not running) the services Tidemark's tests and
# non-embedded mode use: PostgreSQL 15, Redis 7 and RabbitMQ, all on loopback; and installs the
# tools `npm run check:ops` needs (promtool, lua5.4), which are not services and never run.
# Idempotent: a second run finds everything installed and answering and changes nothing.
# Where a Docker engine answers, `docker compose up -d` is used instead.
set -euo pipefail

PG_VERSION=15
PG_PORT=${TIDEMARK_PG_PORT:-5432}
PG_USER=tidemark
PG_PASSWORD=tidemark
PG_DB=tidemark
REDIS_PORT=${TIDEMARK_REDIS_PORT:-6379}
AMQP_PORT=${TIDEMARK_AMQP_PORT:-5672}

say() { printf 'services: %s\n' "$*" >&2; }

print_urls() {
  cat <<EOF
DATABASE_URL=postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${PG_DB}
REDIS_URL=redis://127.0.0.1:${REDIS_PORT}
AMQP_URL=amqp://guest:guest@127.0.0.1:${AMQP_PORT}
EOF
}

# wait_for <name> <seconds> <command...>: polls until the command succeeds.
wait_for() {
  local name=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      say "$name did not answer within ${seconds}s"
      return 1
    fi
    sleep 0.5
  done
}

if [ "$(id -u)" != 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

# --- tools for `npm run check:ops` and the console's browser tests ------------------------------
# promtool comes with Debian's prometheus package, whose server must not run here: while it
# installs, service starts are refused (policy-rc.d) unless something refuses them already, and on
# a systemd host the unit is disabled afterwards. lua5.4 runs the Fluent Bit filter's tests.
# Chromium (Debian's, driven by playwright-core) runs the console's tests, with a font to draw text.
tools=()
command -v promtool >/dev/null 2>&1 || tools+=(prometheus)
command -v lua5.4 >/dev/null 2>&1 || tools+=(lua5.4)
[ -x /usr/bin/chromium ] || tools+=(chromium fonts-dejavu-core)
if [ ${#tools[@]} -gt 0 ]; then
  say "installing ${tools[*]} from Debian's packages (for npm run check:ops and the browser tests)"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
  fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${tools[@]}" >&2
  if [[ " ${tools[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  say "Docker engine found: docker compose up -d postgres redis rabbitmq"
  docker compose up -d --wait postgres redis rabbitmq >&2
  print_urls
  exit 0
fi

missing=()
[ -x "/usr/lib/postgresql/${PG_VERSION}/bin/postgres" ] || missing+=("postgresql-${PG_VERSION}" postgresql-contrib)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} from Debian's packages"
  $SUDO apt-get update -qq >&2
  # policy-rc.d keeps the packages from starting their services on install; this script starts them.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# --- PostgreSQL ------------------------------------------------------------------------------
pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main"' | grep -q .; then
  say "creating PostgreSQL ${PG_VERSION} cluster 'main' on port ${PG_PORT}"
  $SUDO pg_createcluster -p "$PG_PORT" "$PG_VERSION" main >&2
fi
conf_dir=/etc/postgresql/${PG_VERSION}/main
if ! grep -q '^# tidemark settings' "$conf_dir/postgresql.conf"; then
  say "configuring PostgreSQL: loopback only, 200 connections"
  $SUDO tee -a "$conf_dir/postgresql.conf" >/dev/null <<EOF
# tidemark settings
listen_addresses = '127.0.0.1'
port = ${PG_PORT}
max_connections = 200
EOF
  if pg_ready; then $SUDO pg_ctlcluster "$PG_VERSION" main restart >&2; fi
fi
# PostgreSQL's own defaults suit a small shared machine: 128 MB of shared buffers (a log of a
# couple of million events and its indexes do not fit: backends write out dirty pages themselves)
# and a checkpoint every 1 GB of WAL (a bulk import then rewrites whole pages after each). What its
# documentation advises for a server of its own: a quarter of the memory (here at most 4 GB).
if ! grep -q '^# tidemark memory settings' "$conf_dir/postgresql.conf"; then
  memory_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
  buffers_mb=$((memory_kb / 4 / 1024))
  if [ "$buffers_mb" -gt 4096 ]; then buffers_mb=4096; fi
  if [ "$buffers_mb" -lt 128 ]; then buffers_mb=128; fi
  say "configuring PostgreSQL: shared_buffers ${buffers_mb}MB, max_wal_size 4GB"
  $SUDO tee -a "$conf_dir/postgresql.conf" >/dev/null <<EOF
# tidemark memory settings
shared_buffers = '${buffers_mb}MB'
max_wal_size = '4GB'
EOF
  if pg_ready; then $SUDO pg_ctlcluster "$PG_VERSION" main restart >&2; fi
fi
if pg_ready; then
  say "PostgreSQL already running on 127.0.0.1:${PG_PORT}"
else
  say "starting PostgreSQL ${PG_VERSION}"
  $SUDO pg_ctlcluster "$PG_VERSION" main start >&2
  wait_for PostgreSQL 60 pg_ready
fi
if [ -n "$SUDO" ]; then as_postgres=(sudo -u postgres); else as_postgres=(runuser -u postgres --); fi
psql_admin() { (cd / && "${as_postgres[@]}" psql -p "$PG_PORT" -X -q -v ON_ERROR_STOP=1 "$@"); }
if [ "$(psql_admin -tAc "select 1 from pg_roles where rolname = '${PG_USER}'")" != 1 ]; then
  say "creating role ${PG_USER}"
  psql_admin -c "create role ${PG_USER} login createdb password '${PG_PASSWORD}'"
fi
# `drop database … with (force)` ends the database's connections, autovacuum's among them: a role
# may end those only as a member of pg_signal_backend (a test's cleanup otherwise fails at random).
psql_admin -c "grant pg_signal_backend to ${PG_USER}"
# The benchmarks start each measured import just after a checkpoint, so that runs start alike.
psql_admin -c "grant pg_checkpoint to ${PG_USER}"
if [ "$(psql_admin -tAc "select 1 from pg_database where datname = '${PG_DB}'")" != 1 ]; then
  say "creating database ${PG_DB}"
  psql_admin -c "create database ${PG_DB} owner ${PG_USER}"
fi

# --- Redis -----------------------------------------------------------------------------------
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
if redis_ready; then
  say "Redis already running on 127.0.0.1:${REDIS_PORT}"
else
  say "starting Redis"
  # A cache and rate-limit store: losing it costs speed, never correctness, so no persistence.
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
    --dir /tmp --logfile /tmp/tidemark-redis.log >&2
  wait_for Redis 30 redis_ready
fi

# --- RabbitMQ --------------------------------------------------------------------------------
rabbit_ready() { $SUDO rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }
env_conf=/etc/rabbitmq/rabbitmq-env.conf
if ! grep -q '^# tidemark settings' "$env_conf" 2>/dev/null; then
  say "configuring RabbitMQ: loopback only"
  $SUDO tee -a "$env_conf" >/dev/null <<EOF
# tidemark settings
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=${AMQP_PORT}
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
fi
if rabbit_ready; then
  say "RabbitMQ already running on 127.0.0.1:${AMQP_PORT}"
else
  say "starting RabbitMQ (takes a few seconds)"
  $SUDO rabbitmq-server -detached >&2
  wait_for RabbitMQ 120 rabbit_ready
fi

say "all services answer"
print_urls
