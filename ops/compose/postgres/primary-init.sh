#!/bin/sh
# docker-entrypoint-initdb.d: runs once, when the primary's data directory is created. The role
# the streaming replica connects as, and pg_hba's line for replication connections ("all" in
# pg_hba does not cover them).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'replicator';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
