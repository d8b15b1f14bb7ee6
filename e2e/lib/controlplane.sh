# shellcheck shell=bash
# The control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and its
# fake nodes; readiness checks.

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

# Writes the config files and starts every control-plane process, then waits until ready.
cp_start() {
	local pki="$RUN_DIR/pki"
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
		--bind-address 0.0.0.0 --advertise-address "$NODE_HOST_IP" --secure-port "$APISERVER_PORT" \
		--etcd-servers "https://127.0.0.1:$ETCD_PORT" --etcd-cafile "$pki/ca.crt" \
		--etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key" \
		--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--client-ca-file "$pki/ca.crt" \
		--authorization-mode Node,RBAC \
		--enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,ResourceQuota,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,PodSecurity,Priority,NodeRestriction,StorageObjectInUseProtection,PersistentVolumeClaimResize,RuntimeClass,CertificateApproval,CertificateSigning,CertificateSubjectRestriction,TaintNodesByCondition \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--service-cluster-ip-range 10.96.0.0/16 \
		--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
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
		--kube-api-qps "$KCM_QPS" --kube-api-burst "$KCM_BURST" \
		--concurrent-deployment-syncs "$KCM_SYNCS" --concurrent-replicaset-syncs "$KCM_SYNCS" \
		--concurrent-statefulset-syncs "$KCM_SYNCS" --concurrent-job-syncs "$KCM_SYNCS" \
		--concurrent-endpoint-syncs "$KCM_SYNCS" --concurrent-service-endpoint-syncs "$KCM_SYNCS" \
		--concurrent-namespace-syncs "$KCM_SYNCS" --concurrent-resource-quota-syncs "$KCM_SYNCS" \
		--concurrent-serviceaccount-token-syncs "$KCM_SYNCS" \
		--leader-elect=false --profiling=false --v 1
	start_process kube-scheduler "$(bin_path kube-scheduler)" \
		--kubeconfig "$RUN_DIR/scheduler.kubeconfig" \
		--authentication-kubeconfig "$RUN_DIR/scheduler.kubeconfig" \
		--authorization-kubeconfig "$RUN_DIR/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" \
		--tls-cert-file "$pki/scheduler-serving.crt" --tls-private-key-file "$pki/scheduler-serving.key" \
		--kube-api-qps "$SCHEDULER_QPS" --kube-api-burst "$SCHEDULER_BURST" \
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
}
