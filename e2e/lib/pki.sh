# shellcheck shell=bash
# The cluster's CA, every component's certificate, and kubeconfigs. A certificate is issued
# when it is missing or when what it should say (subject, usage, SANs) changed: a new SAN
# re-issues that one certificate, nothing else.

# issue_cert <name> <CN> <O> <extendedKeyUsage> <SANs>
issue_cert() {
	local d="$RUN_DIR/pki" name="$1" cn="$2" o="$3" eku="$4" san="$5"
	local spec="$cn|$o|$eku|$san" subj="/CN=$cn"
	[[ -f "$d/$name.crt" && -f "$d/$name.spec" && "$(cat "$d/$name.spec")" == "$spec" ]] && return 0
	[[ -n "$o" ]] && subj="/O=$o/CN=$cn"
	(
		cd "$d" || exit 1
		umask 077
		openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
		{
			echo "basicConstraints=CA:FALSE"
			echo "keyUsage=critical,digitalSignature,keyEncipherment"
			echo "extendedKeyUsage=$eku"
			[[ -n "$san" ]] && echo "subjectAltName=$san"
		} >"$name.ext"
		openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
			-extfile "$name.ext" -out "$name.crt" 2>/dev/null
		rm -f "$name.csr" "$name.ext" ca.srl
		printf '%s' "$spec" >"$name.spec"
	)
}

gen_certs() {
	local d="$RUN_DIR/pki"
	command -v openssl >/dev/null 2>&1 || die "openssl is needed to generate certificates (apt-get install openssl)"
	if [[ ! -f "$d/.complete" ]]; then
		log "generating the CA in $d"
		rm -rf "$d"
		mkdir -p "$d"
		(
			cd "$d" || exit 1
			umask 077
			openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
				-subj "/CN=perfrun-e2e-ca" -addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
			openssl genrsa -out sa.key 2048 2>/dev/null
			openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
			touch .complete
		)
	fi
	local sans="IP:127.0.0.1,IP:10.96.0.1,IP:$NODE_HOST_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default"
	sans+=",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	issue_cert etcd-server etcd "" serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
	issue_cert apiserver-etcd-client kube-apiserver-etcd-client "" clientAuth ""
	issue_cert apiserver kube-apiserver "" serverAuth "$sans"
	issue_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth ""
	issue_cert admin kubernetes-admin system:masters clientAuth ""
	issue_cert controller-manager system:kube-controller-manager "" clientAuth ""
	issue_cert scheduler system:kube-scheduler "" clientAuth ""
	issue_cert kwok kwok system:masters clientAuth ""
	issue_cert kcm-serving kube-controller-manager "" serverAuth "IP:127.0.0.1,DNS:localhost"
	issue_cert scheduler-serving kube-scheduler "" serverAuth "IP:127.0.0.1,DNS:localhost"
	issue_cert kwok-serving kwok "" serverAuth "IP:127.0.0.1,DNS:localhost"
	# the real node's processes (e2e/lib/node.sh)
	issue_cert kubelet "system:node:$NODE_NAME" system:nodes clientAuth ""
	issue_cert kubelet-serving "$NODE_NAME" "" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
	issue_cert kube-proxy system:kube-proxy "" clientAuth ""
	issue_cert coredns system:perfrun:coredns "" clientAuth ""
	issue_cert netpol system:perfrun:kube-network-policies "" clientAuth ""
}

# write_kubeconfig <file> <user (a pki/<user>.crt)> [server]
write_kubeconfig() {
	local file="$1" user="$2" server="${3:-https://127.0.0.1:$APISERVER_PORT}" tmp
	tmp="$file.tmp.$$"
	cat >"$tmp" <<EOF2
apiVersion: v1
kind: Config
clusters:
- name: perfrun-e2e
  cluster:
    server: $server
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
EOF2
	chmod 600 "$tmp"
	mv -f "$tmp" "$file"
}

kubeconfig_path() { echo "$RUN_DIR/admin.kubeconfig"; }

kctl() { "$(bin_path kubectl)" --kubeconfig "$(kubeconfig_path)" --request-timeout=10s "$@"; }
