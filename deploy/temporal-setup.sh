#!/bin/sh
# The namespace and linkflow's search attributes, registered and then verified as the frontend
# sees them; one script for both deployments (compose runs it in temporalio/admin-tools, `npm run
# cluster` with the Temporal CLI it builds). Idempotent.
#
# On a fresh server a namespace is only visible to the frontend after its namespace registry
# refreshes (about 10 s), and `search-attribute create` fails until then: so every step is retried
# until `search-attribute list` shows all four, and the script fails (instead of `|| true`) when
# they never appear.
#
# Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (default "default"), TEMPORAL_CLI (default
# temporal on PATH), TEMPORAL_SETUP_TIMEOUT_S (default 120).
set -eu
cli="${TEMPORAL_CLI:-temporal}"
ns="${TEMPORAL_NAMESPACE:-default}"
deadline=$(( $(date +%s) + ${TEMPORAL_SETUP_TIMEOUT_S:-120} ))
# name:type, as src/workflows/searchAttributes.ts declares them (test/unit/dockerCompose.test.ts).
attributes="LinkSessionStatus:Keyword ClientUserId:Keyword PlaidUserId:Keyword LinkItemCount:Int"

retry() { # what command...
  what="$1"; shift
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "temporal-setup: gave up: $what" >&2
      "$@" >&2 || true
      exit 1
    fi
    sleep 1
  done
}

retry "the frontend answers" "$cli" operator cluster health
if ! "$cli" operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  "$cli" operator namespace create --namespace "$ns" --retention 720h >/dev/null 2>&1 || true
fi
retry "namespace $ns visible" "$cli" operator namespace describe --namespace "$ns"

for attribute in $attributes; do
  name="${attribute%%:*}"
  type="${attribute#*:}"
  # Created or already there: either way the listing below must show it.
  retry "search attribute $name" sh -c \
    "'$cli' operator search-attribute list --namespace '$ns' | grep -qw '$name' || '$cli' operator search-attribute create --namespace '$ns' --name $name --type $type"
done

# Listed is not yet usable: the frontend validates queries and workflow starts against its
# namespace registry, refreshed on its own schedule. A visibility query naming each attribute
# succeeds only once the frontend knows it.
for attribute in $attributes; do
  name="${attribute%%:*}"
  type="${attribute#*:}"
  if [ "$type" = Int ]; then probe="$name = 0"; else probe="$name = 'setup-probe'"; fi
  retry "search attribute $name usable in queries" "$cli" workflow count --namespace "$ns" --query "$probe"
done
echo "temporal-setup: namespace $ns with $(echo $attributes | wc -w) search attributes ready"
