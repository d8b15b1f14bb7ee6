#!/usr/bin/env bash
# A real local Kubernetes cluster: a control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) plus kwok fake nodes, all built from Go modules and
# run on 127.0.0.1, and optionally one real node (containerd 2 + runc, kubelet, kube-proxy,
# CoreDNS, kube-network-policies) in a network namespace of its own.
#
#   e2e/cluster.sh build [--control-plane]   build pinned binaries into ~/.cache/perfrun/bin (cached)
#   e2e/cluster.sh up [--with-node]          start the cluster (idempotent), wait until it is ready
#   e2e/cluster.sh node-down                 stop the real node only (the control plane stays)
#   e2e/cluster.sh node-env                  print KEY=VALUE facts of the real node (netns, paths)
#   e2e/cluster.sh down [--purge]            stop every process; --purge also deletes the state
#   e2e/cluster.sh status                    what runs
#   e2e/cluster.sh kubeconfig                print the admin kubeconfig path
#   e2e/cluster.sh bin-dir                   print a directory holding links to all binaries
#   e2e/cluster.sh versions                  print the pinned versions
#
# See e2e/README.md for ports and environment variables.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GOBUILD_DIR="$E2E_DIR/gobuild"

# ---- pinned versions (must match the go.mod files; `build` checks) -------------------------
K8S_VERSION=v1.36.4
K8S_BUILD_DATE=2026-08-20T11:51:43Z # the module's publication time, for reproducible builds
ETCD_VERSION=v3.6.8
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.21.4
CONTAINERD_VERSION=v2.4.2
CNI_PLUGINS_VERSION=v1.10.0
COREDNS_VERSION=v1.15.0
KNP_VERSION=v0.8.0 # sigs.k8s.io/kube-network-policies

CACHE_DIR="${PERFRUN_CACHE_DIR:-$HOME/.cache/perfrun}"
BIN_ROOT="$CACHE_DIR/bin"
RUN_DIR="${PERFRUN_CLUSTER_DIR:-$CACHE_DIR/cluster}"

ETCD_PORT="${PERFRUN_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${PERFRUN_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${PERFRUN_APISERVER_PORT:-16443}"
KCM_PORT="${PERFRUN_KCM_PORT:-20257}"
SCHEDULER_PORT="${PERFRUN_SCHEDULER_PORT:-20259}"
KWOK_PORT="${PERFRUN_KWOK_PORT:-20247}"
KWOK_NODES="${PERFRUN_KWOK_NODES:-1}"
UP_TIMEOUT="${PERFRUN_UP_TIMEOUT:-180}"
# Client-side rate limits (requests/s, burst) of kube-controller-manager's controllers (each has
# its own client: --use-service-account-credentials) and of kube-scheduler. Their defaults (20/30,
# 50/100) are sized for a cluster that changes slowly; this test cluster gets 200 PerfRuns applied
# at once (bench/operator_scale.py), and at 20 QPS the deployment and replicaset controllers alone
# took 34-46 s to create a run's ReplicaSet and pods after the operator had applied them, so
# apply -> EnvironmentReady measured the controller manager's queue, not the operator.
KCM_QPS="${PERFRUN_KCM_QPS:-200}"
KCM_BURST="${PERFRUN_KCM_BURST:-400}"
SCHEDULER_QPS="${PERFRUN_SCHEDULER_QPS:-200}"
SCHEDULER_BURST="${PERFRUN_SCHEDULER_BURST:-400}"
# Workers of the controllers a run's objects go through (upstream: 5 each, 10 for namespaces,
# 20 for the garbage collector): with 5 and requests taking 0.1-0.3 s on a busy API server the
# deployment controller made ~30 writes/s, and 200 runs' ReplicaSets came up to 18 s after
# their Deployments.
KCM_SYNCS="${PERFRUN_KCM_SYNCS:-25}"

# The real node's addresses (e2e/lib/node.sh): <net>.255.1 is the host end of its link and the
# API server's advertised address (the `kubernetes` Service's endpoint, reachable from pods),
# <net>.255.2 the node's own IP, <net>.0.0/24 its pods. One /16 per cluster instance.
NODE_NET="${PERFRUN_NODE_NET:-10.245}"
NODE_HOST_IP="$NODE_NET.255.1"
NODE_IP="$NODE_NET.255.2"
NODE_NAME="${PERFRUN_NODE_NAME:-perfrun-node}"

PROCESSES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# shellcheck source=lib/common.sh
source "$E2E_DIR/lib/common.sh"
# shellcheck source=lib/build.sh
source "$E2E_DIR/lib/build.sh"
# shellcheck source=lib/processes.sh
source "$E2E_DIR/lib/processes.sh"
# shellcheck source=lib/pki.sh
source "$E2E_DIR/lib/pki.sh"
# shellcheck source=lib/controlplane.sh
source "$E2E_DIR/lib/controlplane.sh"
# shellcheck source=lib/node.sh
source "$E2E_DIR/lib/node.sh"

# ---- verbs -------------------------------------------------------------------------------
# What the running control plane was started from: a changed flag or kwok stage means restart.
# (The node has its own stamp: changing e2e/lib/node.sh restarts only the node.)
config_stamp() {
	cat "$E2E_DIR/cluster.sh" "$E2E_DIR/kwok-stages.yaml" "$E2E_DIR/lib/common.sh" \
		"$E2E_DIR/lib/processes.sh" "$E2E_DIR/lib/pki.sh" "$E2E_DIR/lib/controlplane.sh" \
		<(printf '%s\n' "$KCM_QPS" "$KCM_BURST" "$SCHEDULER_QPS" "$SCHEDULER_BURST" "$KCM_SYNCS") | sha256sum | cut -d' ' -f1
}

config_current() {
	[[ -f "$RUN_DIR/config.sha" && "$(cat "$RUN_DIR/config.sha")" == "$(config_stamp)" ]]
}

cmd_up() {
	local start=$SECONDS with_node=0
	[[ "${1:-}" == "--with-node" || "${PERFRUN_WITH_NODE:-0}" == 1 ]] && with_node=1
	if ((with_node)); then ensure_built; else ensure_built --control-plane; fi
	if all_running && cluster_ready && config_current && { ((!with_node)) || node_up_to_date; }; then
		log "cluster already running and ready; kubeconfig: $(kubeconfig_path)"
		return 0
	fi
	take_lock "$RUN_DIR.lock"
	mkdir -p "$RUN_DIR"
	cp_up
	((with_node)) && node_up
	log "cluster ready in $((SECONDS - start))s; kubeconfig: $(kubeconfig_path)"
}

# The control plane (under the lock): a no-op when it runs and is current.
cp_up() {
	if all_running && cluster_ready; then
		if config_current; then
			return 0
		fi
		log "cluster.sh, e2e/lib or kwok-stages.yaml changed since this cluster started; restarting it"
		cmd_down
	elif [[ -n "$(unrecorded_pids "${PROCESSES[@]}" "${NODE_PROCESSES[@]}")" ]]; then
		log "processes of $RUN_DIR run that no pid file records; restarting the cluster"
		cmd_down
	fi
	# Check every port first, so nothing starts when something is in the way.
	local p
	for p in "${PROCESSES[@]}"; do
		alive_pid "$p" >/dev/null 2>&1 || check_ports_free "$p"
	done
	gen_certs
	write_kubeconfig "$(kubeconfig_path)" admin
	write_kubeconfig "$RUN_DIR/controller-manager.kubeconfig" controller-manager
	write_kubeconfig "$RUN_DIR/scheduler.kubeconfig" scheduler
	write_kubeconfig "$RUN_DIR/kwok.kubeconfig" kwok
	cp_start
	config_stamp >"$RUN_DIR/config.sha"
}

cmd_down() {
	local purge=0 p pid pids=() i
	[[ "${1:-}" == "--purge" ]] && purge=1
	node_down
	for ((i = ${#PROCESSES[@]} - 1; i >= 0; i--)); do
		p="${PROCESSES[$i]}"
		if pid="$(alive_pid "$p" 2>/dev/null)"; then
			log "stopping $p (pid $pid)"
			terminate "$pid"
		fi
		forget_pid "$p"
	done
	# Processes of this run dir whose pid file was lost.
	for pid in $(stray_pids); do
		log "stopping stray process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)"
		pids+=("$pid")
	done
	((${#pids[@]} == 0)) || terminate "${pids[@]}"
	local left
	left="$(stray_pids | tr '\n' ' ')"
	[[ -z "${left// /}" ]] || die "processes still running after down: $left"
	log "no cluster process left"
	if ((purge)); then
		rm -rf "$RUN_DIR"
		log "removed $RUN_DIR"
	fi
}

cmd_status() {
	local p pid rc=0 rss
	printf '%-24s %-8s %-10s %s\n' COMPONENT PID RSS_MIB PORT
	for p in "${PROCESSES[@]}"; do
		if pid="$(alive_pid "$p" 2>/dev/null)"; then
			rss="$(awk '/^VmRSS/{printf "%d", $2/1024}' "/proc/$pid/status")"
			printf '%-24s %-8s %-10s %s\n' "$p" "$pid" "$rss" "$(port_of "$p")"
		else
			printf '%-24s %-8s %-10s %s\n' "$p" stopped - "$(port_of "$p")"
			rc=3
		fi
	done
	if [[ -d "$NODE_DIR" ]]; then
		node_status || true
	fi
	if ((rc == 0)); then
		if cluster_ready; then
			echo "cluster: ready (kubernetes $K8S_VERSION) kubeconfig: $(kubeconfig_path)"
			kctl get nodes -o wide 2>/dev/null || true
		else
			echo "cluster: running but not ready"
			rc=2
		fi
	else
		echo "cluster: not running"
	fi
	return $rc
}

versions_line() {
	printf 'kubernetes %s, etcd %s, kwok %s, helm %s, containerd %s, cni-plugins %s, coredns %s, kube-network-policies %s' \
		"$K8S_VERSION" "$ETCD_VERSION" "$KWOK_VERSION" "$HELM_VERSION" "$CONTAINERD_VERSION" \
		"$CNI_PLUGINS_VERSION" "$COREDNS_VERSION" "$KNP_VERSION"
}

usage() {
	sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
	local verb="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "$verb" in
	build) cmd_build "$@" ;;
	up) cmd_up "$@" ;;
	node-env) node_env ;;
	node-down)
		take_lock "$RUN_DIR.lock"
		node_down
		;;
	down) cmd_down "$@" ;;
	status) cmd_status ;;
	kubeconfig) kubeconfig_path ;;
	bin-dir)
		ensure_built --control-plane
		echo "$BIN_ROOT/current"
		;;
	versions) versions_line | tr ',' '\n' | sed 's/^ //' ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 64
		;;
	esac
}

main "$@"
