# shellcheck shell=bash
# Logging, errors and the lock that serialises concurrent cluster.sh calls.

log() { printf '[cluster] %s\n' "$*" >&2; }
die() {
	printf '[cluster] ERROR: %s\n' "$*" >&2
	exit 1
}

# Serialise concurrent invocations (e.g. two pytest sessions calling `up` at once).
take_lock() {
	local file="$1"
	mkdir -p "$(dirname "$file")"
	exec 9>"$file"
	if ! flock -n 9; then
		log "waiting for another cluster.sh holding $file"
		flock -w "${PERFRUN_LOCK_TIMEOUT:-3600}" 9 || die "timed out waiting for $file"
	fi
}
