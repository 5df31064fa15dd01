#!/usr/bin/env bash
# Start Debian's PostgreSQL and make the t2j role and database the test run uses (idempotent).
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
cluster=$(pg_lsclusters --no-header | head -n1)
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  pg_createcluster "$version" main
  cluster=$(pg_lsclusters --no-header | head -n1)
fi
read -r version name _ <<<"$cluster"
pg_ctlcluster "$version" "$name" start 2>/dev/null || true
for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
su postgres -c "psql -qtc \"SELECT 1 FROM pg_roles WHERE rolname='t2j'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE t2j LOGIN PASSWORD 't2j' CREATEDB\""
su postgres -c "psql -qtc \"SELECT 1 FROM pg_database WHERE datname='t2j'\"" | grep -q 1 \
  || su postgres -c "createdb -O t2j t2j"
echo "PostgreSQL $version/$name ready on 127.0.0.1:5432"
