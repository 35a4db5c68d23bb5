#!/usr/bin/env bash
# Makes sure the local PostgreSQL server the tests use (127.0.0.1:5432, user postgres, trust auth)
# accepts connections, starting the installed cluster when it does not.
set -euo pipefail

host="${PGHOST:-127.0.0.1}"
port="${PGPORT:-5432}"
user="${PGUSER:-postgres}"

ready() {
	if command -v pg_isready >/dev/null; then
		pg_isready -q -h "$host" -p "$port" -U "$user"
	else
		psql -h "$host" -p "$port" -U "$user" -d postgres -Atc 'SELECT 1' >/dev/null 2>&1
	fi
}

if ready; then
	echo "PostgreSQL is accepting connections at $host:$port"
	exit 0
fi

shopt -s nullglob
versions=(/etc/postgresql/*)
if [[ ${#versions[@]} -eq 0 ]]; then
	echo "PostgreSQL is not running at $host:$port and no cluster is installed under /etc/postgresql" >&2
	exit 1
fi
version="$(basename "${versions[0]}")"
echo "Starting PostgreSQL $version cluster main..."
pg_ctlcluster --skip-systemctl-redirect "$version" main start

for _ in $(seq 1 150); do
	if ready; then
		echo "PostgreSQL is accepting connections at $host:$port"
		exit 0
	fi
	sleep 0.2
done
echo "PostgreSQL did not accept connections at $host:$port within 30 s" >&2
exit 1
