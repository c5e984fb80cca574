#!/bin/sh
# PostgreSQL's roles and databases for a linkflow deployment, one script for both deployments:
# the postgres image runs it once on first boot (mounted into /docker-entrypoint-initdb.d) and
# `npm run cluster` runs it against its own server. Idempotent.
#
# Least privilege: Temporal and linkflow each get a login role that owns only its own databases
# (no superuser, no CREATEDB, no CREATEROLE) and cannot connect to the other's. The superuser is
# only used here. btree_gin (Temporal's visibility schema needs it) is created by the superuser so
# the temporal role needs no extension rights.
#
# Environment: TEMPORAL_DB_PASSWORD, LINKFLOW_DB_PASSWORD (required); POSTGRES_USER (superuser,
# default postgres); PGHOST/PGPORT as psql reads them.
set -eu
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"
: "${LINKFLOW_DB_PASSWORD:?set LINKFLOW_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --no-psqlrc -q -U "${POSTGRES_USER:-postgres}" -d postgres \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" -v linkflow_password="$LINKFLOW_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r)
  FROM unnest(ARRAY['temporal', 'linkflow']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE temporal WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'temporal_password';
ALTER ROLE linkflow WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'linkflow_password';
SELECT format('CREATE DATABASE %I OWNER %I', d, o)
  FROM (VALUES ('temporal', 'temporal'), ('temporal_visibility', 'temporal'), ('linkflow', 'linkflow')) AS t(d, o)
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d) \gexec
REVOKE ALL ON DATABASE temporal, temporal_visibility, linkflow FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE temporal, temporal_visibility TO temporal;
GRANT CONNECT, TEMPORARY ON DATABASE linkflow TO linkflow;
\connect temporal_visibility
CREATE EXTENSION IF NOT EXISTS btree_gin;
SQL
