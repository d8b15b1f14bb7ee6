#!/bin/sh
# The official postgres image's entrypoint contract, for a non-root container:
#   `-c key=value ...` means `postgres -c key=value ...`;
#   on first start (no $PGDATA/PG_VERSION) initdb as $POSTGRES_USER with $POSTGRES_PASSWORD
#   (scram-sha-256 over TCP, trust on the local socket), create $POSTGRES_DB, run
#   /docker-entrypoint-initdb.d/*.sql and *.sh, then exec the server.
set -eu

case "${1:-}" in
-*) set -- postgres "$@" ;;
esac

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
		echo "error: the database is uninitialized and POSTGRES_PASSWORD is empty" >&2
		echo "       (set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow connections without one)" >&2
		exit 1
	fi
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image
	printf '%s\n' "${POSTGRES_PASSWORD:-}" | initdb --username="$POSTGRES_USER" --pwfile=/dev/stdin \
		--auth-local=trust --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" \
		${POSTGRES_INITDB_ARGS:-} -D "$PGDATA" >/dev/null
	printf 'host all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
	printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.auto.conf"

	# A server on the socket only, for the database and the init scripts.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	export PGUSER="$POSTGRES_USER" PGDATABASE=postgres
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -X -q -v ON_ERROR_STOP=1 -v db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sql) psql -X -q -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" -f "$f" ;;
		*.sh)
			# shellcheck disable=SC1090 # the image user's own scripts
			. "$f"
			;;
		esac
	done
	unset PGUSER PGDATABASE
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "initialized $PGDATA: user $POSTGRES_USER, database $POSTGRES_DB" >&2
fi

exec "$@"
