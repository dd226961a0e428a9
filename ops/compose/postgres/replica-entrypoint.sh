#!/bin/sh
# The streaming replica of docker-compose.yml. On its first start it copies the primary with
# pg_basebackup and marks itself a standby (-R: standby.signal and primary_conninfo, under the
# application_name `replica` that the primary's pg_stat_replication and the alerts show); then it
# starts like any postgres container (docker-entrypoint.sh skips initdb for a non-empty PGDATA).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h postgres -p 5432; do
    echo "replica: waiting for the primary"
    sleep 1
  done
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  echo "replica: copying the primary (pg_basebackup)"
  PGPASSWORD=replicator gosu postgres pg_basebackup --pgdata="$PGDATA" --wal-method=stream \
    --write-recovery-conf --checkpoint=fast \
    --dbname="host=postgres port=5432 user=replicator application_name=replica"
  # -R keeps the password out of primary_conninfo; the standby needs it to reconnect.
  echo "primary_conninfo = 'host=postgres port=5432 user=replicator password=replicator application_name=replica'" \
    >>"$PGDATA/postgresql.auto.conf"
fi
exec docker-entrypoint.sh "$@"
