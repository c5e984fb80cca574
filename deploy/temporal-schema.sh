#!/bin/sh
# Temporal's schemas (default store and visibility) in the databases postgres-init.sh created,
# with Temporal's own SQL tool and the schema files embedded in it; one script for both
# deployments (compose runs it in temporalio/admin-tools, `npm run cluster` with the tool it
# builds). Idempotent: setup-schema only creates the version table; update-schema applies what is
# missing.
#
# Environment: SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (the temporal role); TEMPORAL_SQL_TOOL
# (default temporal-sql-tool on PATH).
set -eu
tool="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
for store in temporal:temporal visibility:temporal_visibility; do
  schema="${store%%:*}"
  db="${store#*:}"
  "$tool" --plugin postgres12 --ep "${SQL_HOST:?}" -p "${SQL_PORT:-5432}" -u "${SQL_USER:?}" \
    --pw "${SQL_PASSWORD:?}" --db "$db" setup-schema -v 0.0
  "$tool" --plugin postgres12 --ep "$SQL_HOST" -p "${SQL_PORT:-5432}" -u "$SQL_USER" \
    --pw "$SQL_PASSWORD" --db "$db" update-schema --schema-name "postgresql/v12/$schema"
done
