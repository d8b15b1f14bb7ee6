# shellcheck shell=bash disable=SC2153 # NODE_NET, NODE_IP, ... are set by cluster.sh
# The real node: containerd 2 + runc, kubelet, kube-proxy, CoreDNS and kube-network-policies,
# all host processes inside one network namespace of their own (NODE_NETNS), linked to the
# host by a veth pair:
#
#   host netns                         node netns (NODE_NETNS)
#   kube-apiserver 0.0.0.0:PORT        kubelet, kube-proxy (iptables), CoreDNS, netpol agent,
#   NODE_HOST_IP/30  <-- veth -->      NODE_IP/30 (eth0)      bridge perfrun0 NODE_POD_GW/24
#   route NODE_POD_CIDR via NODE_IP                           pods NODE_POD_CIDR
#
# kube-proxy's and the policy agent's rules therefore never touch the host's own tables, and
# two cluster instances (different PERFRUN_CLUSTER_DIR and PERFRUN_NODE_NET) never clash. The
# node netns has no default route: pods reach each other, Services, the API server (through
# the `kubernetes` Service, whose endpoint is NODE_HOST_IP) and nothing else.
#
# Why host processes and not pods: CoreDNS, kube-proxy and the policy agent need no image
# (the images issue builds only what runs are made of), they are up before the first pod, and
# they cannot be evicted or blocked by the very policies they enforce. They are the same
# binaries doing the same job as their DaemonSet/Deployment forms.

NODE_DIR="$RUN_DIR/node"
NODE_ID="$(printf '%s' "$RUN_DIR" | sha256sum | cut -c1-8)"
NODE_NETNS="perfrun-$NODE_ID"
NODE_HOST_VETH="pfr-$NODE_ID"
NODE_BRIDGE=perfrun0
NODE_POD_CIDR="$NODE_NET.0.0/24"
NODE_POD_GW="$NODE_NET.0.1"
NODE_CGROUP="perfrun-$NODE_ID"
NODE_LABEL="perfrun.dev/node=real"
CLUSTER_DNS_IP=10.96.0.10
CONTAINERD_SOCK="$NODE_DIR/containerd/containerd.sock"
NODE_STATE="$NODE_DIR/state" # containerd's state (shim sockets, netns mounts)
KUBELET_PORT="${PERFRUN_KUBELET_PORT:-10250}"
KUBELET_HEALTHZ_PORT="${PERFRUN_KUBELET_HEALTHZ_PORT:-10248}"
KUBE_PROXY_HEALTHZ_PORT="${PERFRUN_KUBE_PROXY_HEALTHZ_PORT:-10256}"
KUBE_PROXY_METRICS_PORT="${PERFRUN_KUBE_PROXY_METRICS_PORT:-10249}"
COREDNS_PORT="${PERFRUN_COREDNS_PORT:-53}"
COREDNS_HEALTH_PORT="${PERFRUN_COREDNS_HEALTH_PORT:-8080}"
COREDNS_READY_PORT="${PERFRUN_COREDNS_READY_PORT:-8181}"
NETPOL_METRICS_PORT="${PERFRUN_NETPOL_METRICS_PORT:-9080}"
NETPOL_QUEUE="${PERFRUN_NETPOL_QUEUE:-100}"
NODE_PROCESSES=(containerd kube-network-policies coredns kube-proxy kubelet)
IMAGES_TSV="${PERFRUN_IMAGES_TSV:-$CACHE_DIR/images/images.tsv}"

# Run a command in the node's network namespace (and only that: the mount namespace stays the
# host's, so kubelet's volume mounts are seen by containerd and runc).
NSX=(nsenter "--net=/run/netns/$NODE_NETNS")
nsx() { "${NSX[@]}" "$@"; }

node_stamp() {
	cat "$E2E_DIR/lib/node.sh" "$E2E_DIR/lib/pki.sh" | sha256sum | cut -d' ' -f1
}

node_config_current() {
	[[ -f "$NODE_DIR/config.sha" && "$(cat "$NODE_DIR/config.sha")" == "$(node_stamp)" ]]
}

node_all_running() {
	local p
	for p in "${NODE_PROCESSES[@]}"; do alive_pid "$p" >/dev/null 2>&1 || return 1; done
}

node_ready() {
	[[ "$(kctl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == "True" ]]
}

# Every archive listed in images.tsv has been imported (stamps by archive name).
node_images_current() {
	local name ref archive
	[[ -f "$IMAGES_TSV" ]] || return 1
	while IFS=$'\t' read -r name ref archive; do
		[[ -n "$name" && "$name" != \#* ]] || continue
		[[ -f "$NODE_DIR/imported/$(basename "$archive")" ]] || return 1
	done <"$IMAGES_TSV"
}

node_up_to_date() { node_all_running && node_ready && node_config_current && node_images_current; }

# ---- network -----------------------------------------------------------------------------
node_net_up() {
	if ! command -v nsenter >/dev/null || ! command -v ip >/dev/null; then
		die "the node needs iproute2 and util-linux (nsenter)"
	fi
	command -v iptables >/dev/null || die "the node needs iptables (apt-get install iptables)"
	[[ -e "/run/netns/$NODE_NETNS" ]] || ip netns add "$NODE_NETNS"
	if ! ip link show "$NODE_HOST_VETH" >/dev/null 2>&1; then
		ip link add "$NODE_HOST_VETH" type veth peer name eth0 netns "$NODE_NETNS"
	fi
	ip addr replace "$NODE_HOST_IP/30" dev "$NODE_HOST_VETH"
	ip link set "$NODE_HOST_VETH" up
	nsx ip link set lo up
	nsx ip addr replace "$NODE_IP/30" dev eth0
	nsx ip link set eth0 up
	# the host reaches the pods (API server proxy, logs) through the node; nothing else routes
	ip route replace "$NODE_POD_CIDR" via "$NODE_IP" dev "$NODE_HOST_VETH"
	nsx sysctl -qw net.ipv4.ip_forward=1
	nsx sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null ||
		log "warning: net.bridge.bridge-nf-call-iptables not settable in the node netns"
	# The pod bridge exists before containerd so the policy rules can name it.
	if ! nsx ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
		nsx ip link add "$NODE_BRIDGE" type bridge
	fi
	nsx ip addr replace "$NODE_POD_GW/24" dev "$NODE_BRIDGE"
	nsx ip link set "$NODE_BRIDGE" up
	# A ClusterIP without endpoints must be refused (kube-proxy's REJECT in FORWARD), not lost:
	# the Service range is routed onto the bridge, where nothing answers for it (a packet with no
	# route at all never reaches FORWARD and gets a rate-limited ICMP instead; this kernel has
	# no dummy devices), and the netns' ICMP errors are not rate-limited.
	nsx ip route replace 10.96.0.0/16 dev "$NODE_BRIDGE"
	nsx sysctl -qw net.ipv4.icmp_ratelimit=0
	node_netpol_rules
}

# kube-network-policies judges the first packet of every connection of the node's pods in user
# space (NFQUEUE). Its own nftables table needs nft's `queue` expression, which this kernel
# does not have (nft_queue; `nft add rule ... queue num 100` fails with ENOENT), so the same
# queue is fed by iptables' NFQUEUE target (xt_NFQUEUE through nft_compat), with the same
# exemptions as the agent's table: established flows and root's own traffic on the node (kubelet
# probes). Without --queue-bypass: no agent, no new pod connections (fail closed).
node_netpol_rules() {
	local chain=PERFRUN-NETPOL
	nsx iptables -w -t mangle -N "$chain" 2>/dev/null || nsx iptables -w -t mangle -F "$chain"
	nsx iptables -w -t mangle -C POSTROUTING -j "$chain" 2>/dev/null ||
		nsx iptables -w -t mangle -A POSTROUTING -j "$chain"
	nsx iptables -w -t mangle -A "$chain" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
	nsx iptables -w -t mangle -A "$chain" -m owner --uid-owner 0 -j RETURN
	nsx iptables -w -t mangle -A "$chain" -s "$NODE_POD_CIDR" -j NFQUEUE --queue-num "$NETPOL_QUEUE"
	nsx iptables -w -t mangle -A "$chain" -d "$NODE_POD_CIDR" -j NFQUEUE --queue-num "$NETPOL_QUEUE"
}

node_net_down() {
	ip route del "$NODE_POD_CIDR" via "$NODE_IP" 2>/dev/null || true
	ip link del "$NODE_HOST_VETH" 2>/dev/null || true
	if [[ -e "/run/netns/$NODE_NETNS" ]]; then
		ip netns del "$NODE_NETNS" || log "warning: could not delete netns $NODE_NETNS"
	fi
}

# ---- configuration files -------------------------------------------------------------------
sandbox_image() {
	awk -F'\t' '$1 == "pause" {print $2}' "$IMAGES_TSV"
}

write_containerd_config() {
	local d="$NODE_DIR/containerd" cb
	cb="$(dirname "$(bin_path bridge)")"
	mkdir -p "$d" "$NODE_STATE" "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam"
	cat >"$d/config.toml" <<EOF
version = 3
root = "$d/root"
state = "$NODE_STATE"
oom_score = 0
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$(sandbox_image)"

[plugins.'io.containerd.cri.v1.runtime']
  # the sandbox lacks CAP_SYS_RESOURCE: no score below containerd's own (0)
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$NODE_STATE/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$cb"]
    conf_dir = "$NODE_DIR/cni/net.d"
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
	# bridge + host-local: one /24 on perfrun0, the gateway being the node; no masquerade
	# (nothing routes out). portmap for hostPort, without its SNAT rules.
	cat >"$NODE_DIR/cni/net.d/10-perfrun.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "perfrun",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_POD_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": false}
  ]
}
EOF
}

write_kubelet_config() {
	mkdir -p "$NODE_DIR/kubelet" "$NODE_DIR/pod-logs"
	# no upstream resolver: names outside the cluster do not resolve (nothing routes out)
	printf '# perfrun local node: cluster DNS only\n' >"$NODE_DIR/resolv.conf"
	cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $RUN_DIR/pki/kubelet-serving.crt
tlsPrivateKeyFile: $RUN_DIR/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $RUN_DIR/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: /$NODE_CGROUP
cgroupsPerQOS: true
# this machine has cgroup v1 (hybrid) and no systemd; kubelet >= 1.35 refuses v1 without this
failCgroupV1: false
failSwapOn: false
# the sandbox lacks CAP_SYS_RESOURCE: a negative oom_score_adj cannot be set
oomScoreAdj: 0
clusterDNS: [$CLUSTER_DNS_IP]
clusterDomain: cluster.local
resolvConf: $NODE_DIR/resolv.conf
podLogsDir: $NODE_DIR/pod-logs
registerWithTaints:
- {key: perfrun.dev/node, value: real, effect: NoSchedule}
maxPods: 110
serializeImagePulls: false
# every image is imported from an archive (no registry): never garbage-collect one
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
nodeStatusReportFrequency: 10s
EOF
}

write_kube_proxy_config() {
	cat >"$NODE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $RUN_DIR/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
mode: iptables
clusterCIDR: $NODE_POD_CIDR
oomScoreAdj: 0
# leave the kernel's (global) conntrack settings alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

write_coredns_config() {
	cat >"$NODE_DIR/Corefile" <<EOF
.:$COREDNS_PORT {
    bind $NODE_IP
    errors
    health 127.0.0.1:$COREDNS_HEALTH_PORT
    ready 127.0.0.1:$COREDNS_READY_PORT
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $RUN_DIR/coredns.kubeconfig perfrun-e2e
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    prometheus 127.0.0.1:9153
    cache 5
    loadbalance
}
EOF
}

# The API objects the node's host processes need: their RBAC and the cluster DNS Service,
# whose endpoint is the node IP where CoreDNS listens.
apply_node_objects() {
	kctl apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "perfrun:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "perfrun:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "perfrun:coredns"}
subjects: [{kind: User, name: "system:perfrun:coredns", apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "perfrun:kube-network-policies"}
rules:
- apiGroups: [""]
  resources: [pods, namespaces, nodes]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "perfrun:kube-network-policies"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "perfrun:kube-network-policies"}
subjects: [{kind: User, name: "system:perfrun:kube-network-policies", apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $CLUSTER_DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: $COREDNS_PORT}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: $COREDNS_PORT}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: perfrun.dev-e2e
addressType: IPv4
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
  nodeName: $NODE_NAME
ports:
- {name: dns, port: $COREDNS_PORT, protocol: UDP}
- {name: dns-tcp, port: $COREDNS_PORT, protocol: TCP}
EOF
}

# Every pod cgroup lives under /<NODE_CGROUP> in each v1 hierarchy (cgroupfs driver).
node_cgroups_up() {
	local h
	for h in /sys/fs/cgroup/*/; do
		[[ -d "$h" && ! -L "${h%/}" ]] || continue
		mkdir -p "$h$NODE_CGROUP"
		if [[ -f "${h}cpuset.cpus" ]]; then
			[[ -n "$(cat "$h$NODE_CGROUP/cpuset.cpus")" ]] || cat "${h}cpuset.cpus" >"$h$NODE_CGROUP/cpuset.cpus"
			[[ -n "$(cat "$h$NODE_CGROUP/cpuset.mems")" ]] || cat "${h}cpuset.mems" >"$h$NODE_CGROUP/cpuset.mems"
		fi
	done
}

# Removes the node's cgroup trees (deepest first); pids still in one are killed first.
node_cgroups_down() {
	local h d
	for h in /sys/fs/cgroup/*/; do
		[[ -d "$h$NODE_CGROUP" ]] || continue
		while read -r d; do
			if [[ -s "$d/cgroup.procs" ]]; then
				xargs -r kill -KILL <"$d/cgroup.procs" 2>/dev/null || true
			fi
			rmdir "$d" 2>/dev/null || true
		done < <(find "$h$NODE_CGROUP" -depth -type d)
	done
}

# ---- images --------------------------------------------------------------------------------
ctrx() { "$(bin_path ctr)" --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# Imports every archive of images.tsv (written by e2e/images.sh build) that is not imported
# yet: the archive's name carries the hash of the image's inputs, so a rebuilt image is
# imported again and an unchanged one is not.
node_import_images() {
	local name ref archive stamp
	[[ -f "$IMAGES_TSV" ]] || die "no $IMAGES_TSV: build the images first (e2e/images.sh build)"
	mkdir -p "$NODE_DIR/imported"
	while IFS=$'\t' read -r name ref archive; do
		[[ -n "$name" && "$name" != \#* ]] || continue
		# one stamp per image name, holding the archive last imported under it: two trees that
		# build different archives under the same name (a branch's shop image, main's) each get
		# their own imported, instead of whichever came last
		stamp="$NODE_DIR/imported/${ref//[^A-Za-z0-9._-]/_}"
		if [[ "$(cat "$stamp" 2>/dev/null)" == "$archive" ]] && ctrx images ls -q | grep -qxF "$ref"; then
			continue
		fi
		[[ -f "$archive" ]] || die "image archive $archive (of $name in $IMAGES_TSV) is missing"
		log "importing image $ref from $archive"
		# --local: the client unpacks and names the image before it returns (the transfer
		# service's import sometimes returned before the name existed)
		local try
		for try in 1 2 3; do
			ctrx images import --local "$archive" >/dev/null 2>&1 && ctrx images ls -q | grep -qxF "$ref" && break
			((try < 3)) || die "importing $archive did not create image $ref"
			log "import of $archive did not take; again ($try)"
		done
		printf '%s\n' "$archive" >"$stamp"
	done <"$IMAGES_TSV"
}

# The images (e2e/images.sh build: cached by the hash of each image's inputs, so this is quick
# when nothing changed), unless PERFRUN_IMAGES_TSV names a list made elsewhere.
node_build_images() {
	if [[ -z "${PERFRUN_IMAGES_TSV:-}" && -f "$E2E_DIR/images.sh" ]]; then
		bash "$E2E_DIR/images.sh" build >&2 || die "e2e/images.sh build failed"
	fi
}

# ---- up / down -----------------------------------------------------------------------------
containerd_ready() { "$(bin_path ctr)" --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; }
nsx_http_ok() { nsx curl -fsS --max-time 3 "http://127.0.0.1:$1$2" >/dev/null; }
dns_endpoint_ready() { nsx_http_ok "$COREDNS_READY_PORT" /ready; }

node_up() {
	local start=$SECONDS
	ensure_built
	node_build_images
	if node_all_running && node_ready && node_config_current; then
		node_import_images
		log "node $NODE_NAME already running and Ready"
		return 0
	fi
	if node_all_running && ! node_config_current; then
		log "e2e/lib/node.sh changed since the node started; restarting it"
	fi
	node_down
	[[ -f "$IMAGES_TSV" ]] || die "no $IMAGES_TSV: build the images first (e2e/images.sh build)"
	[[ -n "$(sandbox_image)" ]] || die "$IMAGES_TSV has no pause row (the pod sandbox image)"
	command -v runc >/dev/null || die "the node needs runc (apt-get install runc)"
	mkdir -p "$NODE_DIR"
	node_net_up
	node_cgroups_up
	local server="https://$NODE_HOST_IP:$APISERVER_PORT"
	write_kubeconfig "$RUN_DIR/kubelet.kubeconfig" kubelet "$server"
	write_kubeconfig "$RUN_DIR/kube-proxy.kubeconfig" kube-proxy "$server"
	write_kubeconfig "$RUN_DIR/coredns.kubeconfig" coredns "$server"
	write_kubeconfig "$RUN_DIR/netpol.kubeconfig" netpol "$server"
	write_containerd_config
	write_kubelet_config
	write_kube_proxy_config
	write_coredns_config
	wait_until "the node's RBAC and kube-dns objects" 60 "" -- apply_node_objects

	local cdir path
	cdir="$(dirname "$(bin_path containerd)")"
	path="$cdir:$(dirname "$(command -v runc)"):/usr/sbin:/usr/bin:/sbin:/bin"
	start_process containerd "${NSX[@]}" env PATH="$path" "$(bin_path containerd)" \
		--config "$NODE_DIR/containerd/config.toml" --log-level warn
	wait_until "containerd" "$UP_TIMEOUT" containerd -- containerd_ready
	node_import_images

	start_process kube-network-policies "${NSX[@]}" "$(bin_path kube-network-policies)" \
		--kubeconfig "$RUN_DIR/netpol.kubeconfig" --hostname-override "$NODE_NAME" \
		--metrics-bind-address "127.0.0.1:$NETPOL_METRICS_PORT" --nfqueue-id "$NETPOL_QUEUE" --v 1
	start_process coredns "${NSX[@]}" "$(bin_path coredns)" -conf "$NODE_DIR/Corefile"
	start_process kube-proxy "${NSX[@]}" "$(bin_path kube-proxy)" --config "$NODE_DIR/kube-proxy.yaml" --v 1
	start_process kubelet "${NSX[@]}" env PATH="$path" "$(bin_path kubelet)" \
		--config "$NODE_DIR/kubelet.yaml" --kubeconfig "$RUN_DIR/kubelet.kubeconfig" \
		--root-dir "$NODE_DIR/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
		--node-labels "$NODE_LABEL" --v 1
	local all="${NODE_PROCESSES[*]}"
	wait_until "kube-proxy /healthz" "$UP_TIMEOUT" "$all" -- nsx_http_ok "$KUBE_PROXY_HEALTHZ_PORT" /healthz
	wait_until "CoreDNS /ready" "$UP_TIMEOUT" "$all" -- dns_endpoint_ready
	wait_until "node $NODE_NAME to be Ready" "$UP_TIMEOUT" "$all" -- node_ready
	# registerWithTaints applies only when the Node object is created: keep taint and label on
	# a Node that outlived a restart too
	wait_until "the taint on $NODE_NAME" 60 "$all" -- \
		kctl taint node "$NODE_NAME" perfrun.dev/node=real:NoSchedule --overwrite
	wait_until "the label on $NODE_NAME" 60 "$all" -- kctl label node "$NODE_NAME" "$NODE_LABEL" --overwrite
	node_stamp >"$NODE_DIR/config.sha"
	log "node $NODE_NAME Ready in $((SECONDS - start))s (netns $NODE_NETNS, pods $NODE_POD_CIDR)"
}

# Stops the node's processes and removes every container, sandbox, pod netns, veth, mount and
# cgroup it made. The imported images stay (in containerd's root) for the next start.
node_down() {
	local p pid
	for p in kubelet kube-proxy coredns kube-network-policies; do
		if pid="$(alive_pid "$p" 2>/dev/null)"; then
			log "stopping $p (pid $pid)"
			terminate "$pid"
		fi
		forget_pid "$p"
	done
	if alive_pid containerd >/dev/null 2>&1 && containerd_ready; then
		local ids
		ids="$(ctrx tasks ls -q 2>/dev/null || true)"
		for p in $ids; do ctrx tasks kill -s SIGKILL "$p" >/dev/null 2>&1 || true; done
		for p in $ids; do ctrx tasks delete -f "$p" >/dev/null 2>&1 || true; done
		ids="$(ctrx containers ls -q 2>/dev/null || true)"
		for p in $ids; do ctrx containers delete "$p" >/dev/null 2>&1 || true; done
		ids="$(ctrx sandboxes ls -q 2>/dev/null || true)"
		for p in $ids; do ctrx sandboxes rm -f "$p" >/dev/null 2>&1 || true; done
	fi
	if pid="$(alive_pid containerd 2>/dev/null)"; then
		log "stopping containerd (pid $pid)"
		terminate "$pid"
	fi
	forget_pid containerd
	# shims and anything else started from the run dir
	local strays=()
	for pid in $(stray_pids); do
		case "$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1)" in
		*/containerd-shim-runc-v2 | */containerd | */kubelet | */kube-proxy | */coredns | */kube-network-policies) strays+=("$pid") ;;
		esac
	done
	((${#strays[@]} == 0)) || terminate "${strays[@]}"
	node_cgroups_down
	# mounts under the node dir (kubelet volumes, container rootfs, pod netns), deepest first
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$NODE_DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
	rm -rf "$NODE_STATE"
	node_net_down
	rm -f "$NODE_DIR/config.sha"
}

# KEY=VALUE lines for tests and people: where the node's pieces are.
node_env() {
	cat <<EOF
NODE_NAME=$NODE_NAME
NODE_NETNS=$NODE_NETNS
NODE_IP=$NODE_IP
NODE_HOST_IP=$NODE_HOST_IP
NODE_POD_CIDR=$NODE_POD_CIDR
NODE_BRIDGE=$NODE_BRIDGE
NODE_DIR=$NODE_DIR
NODE_CGROUP=$NODE_CGROUP
NODE_STATE=$NODE_STATE
CONTAINERD_SOCK=$CONTAINERD_SOCK
CTR=$(bin_path ctr)
IMAGES_TSV=$IMAGES_TSV
NODE_SELECTOR={"perfrun.dev/node": "real"}
NODE_TOLERATIONS=[{"key": "perfrun.dev/node", "operator": "Exists", "effect": "NoSchedule"}]
EOF
}

node_status() {
	local p pid rss rc=0
	for p in "${NODE_PROCESSES[@]}"; do
		if pid="$(alive_pid "$p" 2>/dev/null)"; then
			rss="$(awk '/^VmRSS/{printf "%d", $2/1024}' "/proc/$pid/status")"
			printf '%-24s %-8s %-10s %s\n' "$p" "$pid" "$rss" "netns $NODE_NETNS"
		else
			printf '%-24s %-8s %-10s %s\n' "$p" stopped - "netns $NODE_NETNS"
			rc=3
		fi
	done
	return $rc
}
