# shellcheck shell=bash
# Daemons of the run dir: pid files, ports, start, readiness waits, stop.

pid_file() { echo "$RUN_DIR/pids/$1.pid"; }
# beside the pid file (which stays a bare pid, as older cluster.sh versions read it)
start_file() { echo "$RUN_DIR/pids/$1.start"; }
forget_pid() { rm -f "$(pid_file "$1")" "$(start_file "$1")"; }

# The start time of a process (clock ticks since boot, field 22 of /proc/PID/stat): with the
# pid it names one process for ever, where a pid alone is reused after a reboot.
start_time_of() {
	local stat
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }" # the fields after the command name, which may hold spaces
	# shellcheck disable=SC2086 # split into fields on purpose
	set -- $stat
	echo "${20}"
}

# Prints the pid if the process recorded for $1 is alive and is really ours (the same pid and
# start time as when it was started: after a reboot the pid of a dead kube-proxy can be this
# cluster's new etcd, whose command line names the run dir too); removes a stale pid file
# otherwise.
alive_pid() {
	local f pid started
	f="$(pid_file "$1")"
	[[ -f "$f" ]] || return 1
	pid="$(cat "$f" 2>/dev/null || true)"
	started="$(cat "$(start_file "$1")" 2>/dev/null || true)"
	if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -r "/proc/$pid/cmdline" ]] &&
		[[ -n "$started" && "$(start_time_of "$pid")" == "$started" ]] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$RUN_DIR/" &&
		! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
		echo "$pid"
		return 0
	fi
	log "removing stale pid file for $1 (pid ${pid:-?} is not running)"
	forget_pid "$1"
	return 1
}

port_of() {
	case "$1" in
	etcd) echo "$ETCD_PORT $ETCD_PEER_PORT" ;;
	kube-apiserver) echo "$APISERVER_PORT" ;;
	kube-controller-manager) echo "$KCM_PORT" ;;
	kube-scheduler) echo "$SCHEDULER_PORT" ;;
	kwok) echo "$KWOK_PORT" ;;
	esac
}

port_var_of() {
	case "$1" in
	"$ETCD_PORT") echo PERFRUN_ETCD_PORT ;;
	"$ETCD_PEER_PORT") echo PERFRUN_ETCD_PEER_PORT ;;
	"$APISERVER_PORT") echo PERFRUN_APISERVER_PORT ;;
	"$KCM_PORT") echo PERFRUN_KCM_PORT ;;
	"$SCHEDULER_PORT") echo PERFRUN_SCHEDULER_PORT ;;
	"$KWOK_PORT") echo PERFRUN_KWOK_PORT ;;
	esac
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_ports_free() {
	local p who
	for p in $(port_of "$1"); do
		if port_in_use "$p"; then
			who=""
			if command -v ss >/dev/null 2>&1; then
				who="$(ss -Hltnp "sport = :$p" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1)"
			fi
			die "port 127.0.0.1:$p needed by $1 is already in use${who:+ by $who}. Stop that process (if it is a leftover of this cluster: e2e/cluster.sh down) or pick another port with $(port_var_of "$p")=<port>."
		fi
	done
}

# Closes every descriptor of this (sub)shell past stderr.
close_inherited_fds() {
	local fd
	for fd in /proc/"$BASHPID"/fd/*; do
		fd="${fd##*/}"
		if ((fd > 2)); then
			eval "exec $fd>&-"
		fi
	done
}

start_process() {
	local name="$1"
	shift
	local pid
	if pid="$(alive_pid "$name")"; then
		log "$name already running (pid $pid)"
		return 0
	fi
	check_ports_free "$name"
	mkdir -p "$RUN_DIR/logs" "$RUN_DIR/pids"
	log "starting $name"
	# setsid: own session, so a Ctrl-C in the caller's terminal does not kill the cluster.
	# The daemon inherits no descriptor past stderr: an inherited lock is held for as long as
	# the daemon lives -- take_lock's (fd 9), and any the caller holds (`flock FILE CMD` hands
	# CMD the lock as fd 3: a cluster first started under the shared heavy lock held it, and
	# so blocked every other holder, until the cluster stopped).
	(
		close_inherited_fds
		exec setsid "$@" >>"$RUN_DIR/logs/$name.log" 2>&1 </dev/null
	) &
	start_time_of $! >"$(start_file "$name")"
	echo $! >"$(pid_file "$name")"
}

# Fails with the tail of the log if the process died.
assert_alive() {
	if ! alive_pid "$1" >/dev/null; then
		log "$1 exited; last lines of $RUN_DIR/logs/$1.log:"
		tail -n 30 "$RUN_DIR/logs/$1.log" >&2 || true
		die "$1 failed to start"
	fi
}

# wait_until <description> <timeout-seconds> <processes-to-watch> -- <command...>
wait_until() {
	local what="$1" timeout="$2" watch="$3"
	shift 4
	local deadline=$((SECONDS + timeout)) p
	until "$@" >/dev/null 2>&1; do
		for p in $watch; do assert_alive "$p"; done
		if ((SECONDS >= deadline)); then
			die "timed out after ${timeout}s waiting for $what"
		fi
		sleep 0.5
	done
}

# Pids of processes started from this run dir that are not in a pid file (lost pid files).
stray_pids() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid="${f#/proc/}"
		pid="${pid%/cmdline}"
		[[ "$pid" == "$$" ]] && continue
		if { tr '\0' '\n' <"$f" | head -1 | grep -q "^$BIN_ROOT/" &&
			tr '\0' ' ' <"$f" | grep -qF -- "$RUN_DIR/"; } 2>/dev/null &&
			! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
			echo "$pid"
		fi
	done
}

# Pids of this run dir's processes that no pid file of the given names records (a pid file
# lost, or written by an older cluster.sh): they hold ports and sockets a start needs.
unrecorded_pids() {
	local name pid known=" "
	for name in "$@"; do
		if pid="$(alive_pid "$name" 2>/dev/null)"; then known+="$pid "; fi
	done
	for pid in $(stray_pids); do
		[[ "$known" == *" $pid "* ]] || echo "$pid"
	done
}

# SIGTERM the given pids, wait up to 20s, then SIGKILL what is left.
terminate() {
	local pid deadline=$((SECONDS + 20))
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; do
			if ((SECONDS >= deadline)); then
				log "pid $pid did not exit on SIGTERM; sending SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
				sleep 0.2
				break
			fi
			sleep 0.1
		done
	done
}
