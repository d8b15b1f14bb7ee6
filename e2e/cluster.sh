#!/usr/bin/env bash
# A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) plus kwok fake nodes, all built from Go modules and run on 127.0.0.1.
#
#   e2e/cluster.sh build             build pinned binaries into ~/.cache/perfrun/bin (cached)
#   e2e/cluster.sh up                start the cluster (idempotent), wait until it is ready
#   e2e/cluster.sh down [--purge]    stop every process; --purge also deletes the state
#   e2e/cluster.sh status            what runs
#   e2e/cluster.sh kubeconfig        print the admin kubeconfig path
#   e2e/cluster.sh bin-dir           print a directory holding links to all binaries
#
# See e2e/README.md for ports and environment variables.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GOBUILD_DIR="$E2E_DIR/gobuild"

# ---- pinned versions (must match e2e/gobuild/go.mod; `build` checks) ----------------------
K8S_VERSION=v1.36.4
K8S_BUILD_DATE=2026-08-20T11:51:43Z # the module's publication time, for reproducible builds
ETCD_VERSION=v3.6.8
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.21.4

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

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)
PROCESSES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

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

version_of() {
	case "$1" in
	etcd) echo "$ETCD_VERSION" ;;
	kwok) echo "$KWOK_VERSION" ;;
	helm) echo "$HELM_VERSION" ;;
	*) echo "$K8S_VERSION" ;;
	esac
}

package_of() {
	case "$1" in
	etcd) echo "./cmd/etcd" ;;
	kwok) echo "sigs.k8s.io/kwok/cmd/kwok" ;;
	helm) echo "helm.sh/helm/v3/cmd/helm" ;;
	*) echo "k8s.io/kubernetes/cmd/$1" ;;
	esac
}

bin_path() { echo "$BIN_ROOT/$1-$(version_of "$1")/$1"; }

# ---- build -------------------------------------------------------------------------------
find_go() {
	if [[ -n "${GO:-}" ]]; then
		echo "$GO"
	elif command -v go >/dev/null 2>&1; then
		command -v go
	elif [[ -x /usr/local/go/bin/go ]]; then
		echo /usr/local/go/bin/go
	else
		die "no Go toolchain found (need go >= 1.26; set GO=/path/to/go)"
	fi
}

check_pins() {
	local mod="$GOBUILD_DIR/go.mod" staging
	grep -Eq "^[[:space:]]*k8s.io/kubernetes $K8S_VERSION\b" "$mod" || die "go.mod does not pin k8s.io/kubernetes $K8S_VERSION"
	grep -Eq "^[[:space:]]*sigs.k8s.io/kwok $KWOK_VERSION\b" "$mod" || die "go.mod does not pin kwok $KWOK_VERSION"
	grep -Eq "^[[:space:]]*helm.sh/helm/v3 $HELM_VERSION\b" "$mod" || die "go.mod does not pin helm $HELM_VERSION"
	grep -Eq "go.etcd.io/etcd/server/v3 $ETCD_VERSION\b" "$mod" || die "go.mod does not pin etcd $ETCD_VERSION"
	staging="v0.${K8S_VERSION#v1.}"
	if grep -E '^[[:space:]]*k8s.io/[a-z-]+ => ' "$mod" | grep -v " $staging\$" | grep -q .; then
		die "go.mod replaces a staging module with a version other than $staging"
	fi
}

cmd_build() {
	local missing=() pkgs=() c
	take_lock "$BIN_ROOT/.build.lock"
	for c in "${COMPONENTS[@]}"; do
		[[ -x "$(bin_path "$c")" ]] || missing+=("$c")
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		log "all binaries present in $BIN_ROOT (k8s $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION, helm $HELM_VERSION)"
		link_bin_dir
		return 0
	fi
	check_pins
	local go
	go="$(find_go)"
	for c in "${missing[@]}"; do pkgs+=("$(package_of "$c")"); done
	local minor="${K8S_VERSION#v1.}"
	minor="${minor%%.*}"
	local v=k8s.io/component-base/version
	local ldflags="-s -w"
	ldflags+=" -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
	ldflags+=" -X $v.gitCommit=unknown -X $v.gitTreeState=archive -X $v.buildDate=$K8S_BUILD_DATE"
	ldflags+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
	ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=archive"
	local tmp="$BIN_ROOT/.build-$$"
	mkdir -p "$tmp"
	log "building ${missing[*]} with $("$go" version) (one go build, -p ${PERFRUN_BUILD_P:-2}); a cold build takes a while"
	local start=$SECONDS
	(
		cd "$GOBUILD_DIR"
		GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false -mod=readonly" \
			"$go" build -p "${PERFRUN_BUILD_P:-2}" -trimpath -ldflags="$ldflags" -o "$tmp/" "${pkgs[@]}"
	) || {
		rm -rf "$tmp"
		die "go build failed"
	}
	for c in "${missing[@]}"; do
		mkdir -p "$(dirname "$(bin_path "$c")")"
		mv -f "$tmp/$c" "$(bin_path "$c")"
	done
	rm -rf "$tmp"
	log "built ${missing[*]} in $((SECONDS - start))s"
	link_bin_dir
}

# A stable directory with a symlink per binary (for PATH and for tests).
link_bin_dir() {
	local c
	mkdir -p "$BIN_ROOT/current"
	for c in "${COMPONENTS[@]}"; do
		ln -sfn "$(bin_path "$c")" "$BIN_ROOT/current/$c"
	done
}

ensure_built() {
	local c
	for c in "${COMPONENTS[@]}"; do
		if [[ ! -x "$(bin_path "$c")" ]]; then
			cmd_build
			return
		fi
	done
	link_bin_dir
}

# ---- processes ---------------------------------------------------------------------------
pid_file() { echo "$RUN_DIR/pids/$1.pid"; }

# Prints the pid if the process recorded for $1 is alive and is really ours; removes a stale
# pid file otherwise.
alive_pid() {
	local f pid
	f="$(pid_file "$1")"
	[[ -f "$f" ]] || return 1
	pid="$(cat "$f" 2>/dev/null || true)"
	if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -r "/proc/$pid/cmdline" ]] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$RUN_DIR" &&
		! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
		echo "$pid"
		return 0
	fi
	log "removing stale pid file for $1 (pid ${pid:-?} is not running)"
	rm -f "$f"
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
	# 9>&-: the daemon must not inherit (and so hold forever) the lock taken by take_lock.
	setsid "$@" >>"$RUN_DIR/logs/$name.log" 2>&1 </dev/null 9>&- &
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

# ---- certificates and kubeconfigs --------------------------------------------------------
gen_certs() {
	local d="$RUN_DIR/pki"
	[[ -f "$d/.complete" ]] && return 0
	command -v openssl >/dev/null 2>&1 || die "openssl is needed to generate certificates (apt-get install openssl)"
	log "generating certificates in $d"
	rm -rf "$d"
	mkdir -p "$d"
	(
		cd "$d"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
			-subj "/CN=perfrun-e2e-ca" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
		# name CN O extendedKeyUsage SANs
		issue() {
			local name="$1" cn="$2" o="$3" eku="$4" san="$5" subj="/CN=$2"
			[[ -n "$o" ]] && subj="/O=$o/CN=$cn"
			openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
			{
				echo "basicConstraints=CA:FALSE"
				echo "keyUsage=critical,digitalSignature,keyEncipherment"
				echo "extendedKeyUsage=$eku"
				[[ -n "$san" ]] && echo "subjectAltName=$san"
			} >"$name.ext"
			openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
				-extfile "$name.ext" -out "$name.crt" 2>/dev/null
			rm -f "$name.csr" "$name.ext"
		}
		local sans="IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default"
		sans+=",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
		issue etcd-server etcd "" serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
		issue apiserver-etcd-client kube-apiserver-etcd-client "" clientAuth ""
		issue apiserver kube-apiserver "" serverAuth "$sans"
		issue admin kubernetes-admin system:masters clientAuth ""
		issue controller-manager system:kube-controller-manager "" clientAuth ""
		issue scheduler system:kube-scheduler "" clientAuth ""
		issue kwok kwok system:masters clientAuth ""
		issue kcm-serving kube-controller-manager "" serverAuth "IP:127.0.0.1,DNS:localhost"
		issue scheduler-serving kube-scheduler "" serverAuth "IP:127.0.0.1,DNS:localhost"
		issue kwok-serving kwok "" serverAuth "IP:127.0.0.1,DNS:localhost"
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		rm -f ca.srl
		touch .complete
	)
}

write_kubeconfig() {
	local file="$1" user="$2" tmp
	tmp="$file.tmp.$$"
	cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: perfrun-e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$RUN_DIR/pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$RUN_DIR/pki/$user.crt")
    client-key-data: $(base64 -w0 <"$RUN_DIR/pki/$user.key")
contexts:
- name: perfrun-e2e
  context:
    cluster: perfrun-e2e
    user: $user
    namespace: default
current-context: perfrun-e2e
EOF
	chmod 600 "$tmp"
	mv -f "$tmp" "$file"
}

kubeconfig_path() { echo "$RUN_DIR/admin.kubeconfig"; }

kctl() { "$(bin_path kubectl)" --kubeconfig "$(kubeconfig_path)" --request-timeout=10s "$@"; }

# ---- readiness checks --------------------------------------------------------------------
etcd_healthy() {
	local p="$RUN_DIR/pki"
	curl -fsS --max-time 3 --cacert "$p/ca.crt" --cert "$p/apiserver-etcd-client.crt" \
		--key "$p/apiserver-etcd-client.key" "https://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'
}
apiserver_ready() { [[ "$(kctl get --raw /readyz 2>/dev/null)" == "ok" ]]; }
default_sa_exists() { kctl -n default get serviceaccount default >/dev/null 2>&1; }
nodes_ready() {
	local i
	for ((i = 0; i < KWOK_NODES; i++)); do
		[[ "$(kctl get node "kwok-node-$i" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == "True" ]] || return 1
	done
}
healthz_ok() { curl -fsSk --max-time 3 "https://127.0.0.1:$1/healthz" | grep -q ok; }
kwok_healthy() { curl -fsS --max-time 3 "http://127.0.0.1:$KWOK_PORT/healthz" | grep -q ok; }

all_running() {
	local p
	for p in "${PROCESSES[@]}"; do alive_pid "$p" >/dev/null 2>&1 || return 1; done
}

cluster_ready() { apiserver_ready && default_sa_exists && nodes_ready; }

# ---- verbs -------------------------------------------------------------------------------
apply_nodes() {
	local i
	for ((i = 0; i < KWOK_NODES; i++)); do
		cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
  labels:
    beta.kubernetes.io/arch: amd64
    beta.kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
status:
  allocatable:
    cpu: "64"
    memory: 256Gi
    pods: "250"
  capacity:
    cpu: "64"
    memory: 256Gi
    pods: "250"
---
EOF
	done | kctl apply -f - >/dev/null
}

# The default StorageClass: kube-controller-manager's in-tree hostPath provisioner (enabled by
# --enable-hostpath-provisioner) creates a PV under /tmp for each claim and deletes it with the
# claim, so StatefulSets with volumeClaimTemplates bind as they would on a real cluster.
apply_storage_class() {
	kctl apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
}

# What the running processes were started from: a changed flag or kwok stage means restart.
config_stamp() {
	cat "$E2E_DIR/cluster.sh" "$E2E_DIR/kwok-stages.yaml" | sha256sum | cut -d' ' -f1
}

config_current() {
	[[ -f "$RUN_DIR/config.sha" && "$(cat "$RUN_DIR/config.sha")" == "$(config_stamp)" ]]
}

cmd_up() {
	local start=$SECONDS
	ensure_built
	if all_running && cluster_ready && config_current; then
		log "cluster already running and ready; kubeconfig: $(kubeconfig_path)"
		return 0
	fi
	take_lock "$RUN_DIR.lock"
	mkdir -p "$RUN_DIR"
	if all_running && cluster_ready; then
		if config_current; then # another `up` finished while we waited
			log "cluster already running and ready; kubeconfig: $(kubeconfig_path)"
			return 0
		fi
		log "cluster.sh or kwok-stages.yaml changed since this cluster started; restarting it"
		cmd_down
	fi
	# Check every port first, so nothing starts when something is in the way.
	local p
	for p in "${PROCESSES[@]}"; do
		alive_pid "$p" >/dev/null 2>&1 || check_ports_free "$p"
	done
	gen_certs
	local pki="$RUN_DIR/pki"
	write_kubeconfig "$(kubeconfig_path)" admin
	write_kubeconfig "$RUN_DIR/controller-manager.kubeconfig" controller-manager
	write_kubeconfig "$RUN_DIR/scheduler.kubeconfig" scheduler
	write_kubeconfig "$RUN_DIR/kwok.kubeconfig" kwok
	cp -f "$E2E_DIR/kwok-stages.yaml" "$RUN_DIR/kwok-stages.yaml"
	# Every write, one line each (who, what, which object): tests count the API writes a
	# PerfRun costs from this log rather than trusting the operator's own counter.
	cat >"$RUN_DIR/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
EOF

	start_process etcd "$(bin_path etcd)" \
		--name perfrun-e2e --data-dir "$RUN_DIR/etcd" \
		--listen-client-urls "https://127.0.0.1:$ETCD_PORT" \
		--advertise-client-urls "https://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "perfrun-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
		--cert-file "$pki/etcd-server.crt" --key-file "$pki/etcd-server.key" \
		--trusted-ca-file "$pki/ca.crt" --client-cert-auth \
		--unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
	wait_until "etcd to be healthy" "$UP_TIMEOUT" "etcd" -- etcd_healthy

	start_process kube-apiserver "$(bin_path kube-apiserver)" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
		--etcd-servers "https://127.0.0.1:$ETCD_PORT" --etcd-cafile "$pki/ca.crt" \
		--etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key" \
		--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--client-ca-file "$pki/ca.crt" \
		--authorization-mode Node,RBAC \
		--enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,ResourceQuota,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,PodSecurity,Priority,NodeRestriction,StorageObjectInUseProtection,PersistentVolumeClaimResize,RuntimeClass,CertificateApproval,CertificateSigning,CertificateSubjectRestriction,TaintNodesByCondition \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--service-cluster-ip-range 10.96.0.0/16 \
		--endpoint-reconciler-type none \
		--allow-privileged=true --profiling=false \
		--audit-policy-file "$RUN_DIR/audit-policy.yaml" --audit-log-path "$RUN_DIR/logs/audit.log" \
		--audit-log-maxsize 200 --audit-log-maxbackup 1 \
		--event-ttl 1h --v 1
	wait_until "kube-apiserver /readyz" "$UP_TIMEOUT" "etcd kube-apiserver" -- apiserver_ready

	start_process kube-controller-manager "$(bin_path kube-controller-manager)" \
		--kubeconfig "$RUN_DIR/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$RUN_DIR/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$RUN_DIR/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
		--tls-cert-file "$pki/kcm-serving.crt" --tls-private-key-file "$pki/kcm-serving.key" \
		--controllers '*' --use-service-account-credentials \
		--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
		--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
		--service-cluster-ip-range 10.96.0.0/16 --cluster-name perfrun-e2e \
		--enable-hostpath-provisioner \
		--leader-elect=false --profiling=false --v 1
	start_process kube-scheduler "$(bin_path kube-scheduler)" \
		--kubeconfig "$RUN_DIR/scheduler.kubeconfig" \
		--authentication-kubeconfig "$RUN_DIR/scheduler.kubeconfig" \
		--authorization-kubeconfig "$RUN_DIR/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" \
		--tls-cert-file "$pki/scheduler-serving.crt" --tls-private-key-file "$pki/scheduler-serving.key" \
		--leader-elect=false --profiling=false --v 1
	start_process kwok "$(bin_path kwok)" \
		--kubeconfig "$RUN_DIR/kwok.kubeconfig" \
		--config "$RUN_DIR/kwok-stages.yaml" \
		--manage-all-nodes=false \
		--manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--node-lease-duration-seconds 40 \
		--cidr 10.244.0.1/16 --node-ip 10.244.0.1 \
		--server-address "127.0.0.1:$KWOK_PORT"
	apply_nodes
	apply_storage_class
	local all="${PROCESSES[*]}"
	wait_until "kube-controller-manager /healthz" "$UP_TIMEOUT" "$all" -- healthz_ok "$KCM_PORT"
	wait_until "kube-scheduler /healthz" "$UP_TIMEOUT" "$all" -- healthz_ok "$SCHEDULER_PORT"
	wait_until "the default ServiceAccount" "$UP_TIMEOUT" "$all" -- default_sa_exists
	wait_until "kwok node(s) to be Ready" "$UP_TIMEOUT" "$all" -- nodes_ready
	config_stamp >"$RUN_DIR/config.sha"
	log "cluster ready in $((SECONDS - start))s; kubeconfig: $(kubeconfig_path)"
}

# Pids of processes started from this run dir that are not in a pid file (lost pid files).
stray_pids() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid="${f#/proc/}"
		pid="${pid%/cmdline}"
		[[ "$pid" == "$$" ]] && continue
		if { tr '\0' '\n' <"$f" | head -1 | grep -q "^$BIN_ROOT/" &&
			tr '\0' ' ' <"$f" | grep -q -- "$RUN_DIR"; } 2>/dev/null &&
			! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
			echo "$pid"
		fi
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

cmd_down() {
	local purge=0 p pid pids=() i
	[[ "${1:-}" == "--purge" ]] && purge=1
	for ((i = ${#PROCESSES[@]} - 1; i >= 0; i--)); do
		p="${PROCESSES[$i]}"
		if pid="$(alive_pid "$p" 2>/dev/null)"; then
			log "stopping $p (pid $pid)"
			terminate "$pid"
		fi
		rm -f "$(pid_file "$p")"
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

usage() {
	sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
	local verb="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "$verb" in
	build) cmd_build ;;
	up) cmd_up ;;
	down) cmd_down "$@" ;;
	status) cmd_status ;;
	kubeconfig) kubeconfig_path ;;
	bin-dir)
		ensure_built
		echo "$BIN_ROOT/current"
		;;
	versions) printf 'kubernetes %s\netcd %s\nkwok %s\nhelm %s\n' "$K8S_VERSION" "$ETCD_VERSION" "$KWOK_VERSION" "$HELM_VERSION" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 64
		;;
	esac
}

main "$@"
