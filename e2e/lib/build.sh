# shellcheck shell=bash
# Building the pinned binaries from Go modules into $BIN_ROOT/<component>-<version>/.
# Three modules, one `go build` each (a module's binaries share their compile work):
#   e2e/gobuild     control plane, kubectl, kwok, helm, and the node's kubelet and kube-proxy
#   e2e/nodebuild   containerd, its runc shim, ctr, the CNI plugins, CoreDNS
#   e2e/netpolbuild kube-network-policies (its client-go is older than Kubernetes 1.36's)

CP_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)
NODE_K8S_COMPONENTS=(kubelet kube-proxy)
NODE_RUNTIME_COMPONENTS=(containerd containerd-shim-runc-v2 ctr bridge host-local loopback portmap coredns)
NETPOL_COMPONENTS=(kube-network-policies)
NODE_COMPONENTS=("${NODE_K8S_COMPONENTS[@]}" "${NODE_RUNTIME_COMPONENTS[@]}" "${NETPOL_COMPONENTS[@]}")
COMPONENTS=("${CP_COMPONENTS[@]}" "${NODE_COMPONENTS[@]}")

version_of() {
	case "$1" in
	etcd) echo "$ETCD_VERSION" ;;
	kwok) echo "$KWOK_VERSION" ;;
	helm) echo "$HELM_VERSION" ;;
	containerd | containerd-shim-runc-v2 | ctr) echo "$CONTAINERD_VERSION" ;;
	bridge | host-local | loopback | portmap) echo "$CNI_PLUGINS_VERSION" ;;
	coredns) echo "$COREDNS_VERSION" ;;
	kube-network-policies) echo "$KNP_VERSION" ;;
	*) echo "$K8S_VERSION" ;;
	esac
}

# The cache directory's name: binaries released together share one.
dir_of() {
	case "$1" in
	containerd | containerd-shim-runc-v2 | ctr) echo containerd ;;
	bridge | host-local | loopback | portmap) echo cni-plugins ;;
	*) echo "$1" ;;
	esac
}

module_of() {
	case "$1" in
	containerd | containerd-shim-runc-v2 | ctr | bridge | host-local | loopback | portmap | coredns) echo "$E2E_DIR/nodebuild" ;;
	kube-network-policies) echo "$E2E_DIR/netpolbuild" ;;
	*) echo "$GOBUILD_DIR" ;;
	esac
}

package_of() {
	case "$1" in
	etcd) echo "./cmd/etcd" ;;
	kwok) echo "sigs.k8s.io/kwok/cmd/kwok" ;;
	helm) echo "helm.sh/helm/v3/cmd/helm" ;;
	containerd | containerd-shim-runc-v2 | ctr) echo "github.com/containerd/containerd/v2/cmd/$1" ;;
	bridge | loopback) echo "github.com/containernetworking/plugins/plugins/main/$1" ;;
	host-local) echo "github.com/containernetworking/plugins/plugins/ipam/host-local" ;;
	portmap) echo "github.com/containernetworking/plugins/plugins/meta/portmap" ;;
	coredns | kube-network-policies) echo "./cmd/$1" ;;
	*) echo "k8s.io/kubernetes/cmd/$1" ;;
	esac
}

bin_path() { echo "$BIN_ROOT/$(dir_of "$1")-$(version_of "$1")/$1"; }

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

# pin <go.mod> <module> <version>: the module file requires exactly that version.
pin() {
	grep -Eq "^[[:space:]]*(require[[:space:]]+)?$2 $3\b" "$1" || die "$1 does not pin $2 $3"
}

check_pins() {
	local mod="$GOBUILD_DIR/go.mod" staging
	pin "$mod" k8s.io/kubernetes "$K8S_VERSION"
	pin "$mod" sigs.k8s.io/kwok "$KWOK_VERSION"
	pin "$mod" helm.sh/helm/v3 "$HELM_VERSION"
	grep -Eq "go.etcd.io/etcd/server/v3 $ETCD_VERSION\b" "$mod" || die "go.mod does not pin etcd $ETCD_VERSION"
	staging="v0.${K8S_VERSION#v1.}"
	if grep -E '^[[:space:]]*k8s.io/[a-z-]+ => ' "$mod" | grep -v " $staging\$" | grep -q .; then
		die "go.mod replaces a staging module with a version other than $staging"
	fi
	pin "$E2E_DIR/nodebuild/go.mod" github.com/containerd/containerd/v2 "$CONTAINERD_VERSION"
	pin "$E2E_DIR/nodebuild/go.mod" github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION"
	pin "$E2E_DIR/nodebuild/go.mod" github.com/coredns/coredns "$COREDNS_VERSION"
	pin "$E2E_DIR/netpolbuild/go.mod" sigs.k8s.io/kube-network-policies "$KNP_VERSION"
}

# go_build <module dir> <cgo: 0|1> <extra go flags (tags)> <ldflags> <component...>: one
# `go build` into the cache. The control plane keeps cgo on (as it was first built, so its build
# cache stays valid); the node's modules build static binaries.
go_build() {
	local dir="$1" cgo="$2" tags="$3" ldflags="$4" go c pkgs=()
	shift 4
	go="$(find_go)"
	for c in "$@"; do pkgs+=("$(package_of "$c")"); done
	local tmp="$BIN_ROOT/.build-$$"
	mkdir -p "$tmp"
	log "building $* from $(basename "$dir")/ with $("$go" version) (one go build, -p ${PERFRUN_BUILD_P:-2}); a cold build takes a while"
	local start=$SECONDS
	(
		cd "$dir"
		# shellcheck disable=SC2086 # $tags is empty or one -tags=... word
		GOTOOLCHAIN=local CGO_ENABLED="$cgo" GOFLAGS="${GOFLAGS:-} -buildvcs=false -mod=readonly" \
			"$go" build -p "${PERFRUN_BUILD_P:-2}" -trimpath $tags -ldflags="$ldflags" -o "$tmp/" "${pkgs[@]}"
	) || {
		rm -rf "$tmp"
		die "go build failed in $dir"
	}
	for c in "$@"; do
		mkdir -p "$(dirname "$(bin_path "$c")")"
		mv -f "$tmp/$c" "$(bin_path "$c")"
	done
	rm -rf "$tmp"
	log "built $* in $((SECONDS - start))s"
}

# missing <component...>: prints those not yet in the cache.
missing() {
	local c
	for c in "$@"; do [[ -x "$(bin_path "$c")" ]] || echo "$c"; done
}

# cmd_build [--control-plane]: build what is missing (everything, or only the control plane).
cmd_build() {
	local k8s=() runtime=() netpol=()
	take_lock "$BIN_ROOT/.build.lock"
	if [[ "${1:-}" == "--control-plane" ]]; then
		mapfile -t k8s < <(missing "${CP_COMPONENTS[@]}")
	else
		mapfile -t k8s < <(missing "${CP_COMPONENTS[@]}" "${NODE_K8S_COMPONENTS[@]}")
		mapfile -t runtime < <(missing "${NODE_RUNTIME_COMPONENTS[@]}")
		mapfile -t netpol < <(missing "${NETPOL_COMPONENTS[@]}")
	fi
	if ((${#k8s[@]} + ${#runtime[@]} + ${#netpol[@]} == 0)); then
		log "all binaries present in $BIN_ROOT ($(versions_line))"
		link_bin_dir
		return 0
	fi
	check_pins
	if ((${#k8s[@]})); then
		local minor="${K8S_VERSION#v1.}" v=k8s.io/component-base/version ldflags="-s -w"
		minor="${minor%%.*}"
		ldflags+=" -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
		ldflags+=" -X $v.gitCommit=unknown -X $v.gitTreeState=archive -X $v.buildDate=$K8S_BUILD_DATE"
		ldflags+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
		ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=archive"
		go_build "$GOBUILD_DIR" "${CGO_ENABLED:-1}" "" "$ldflags" "${k8s[@]}"
	fi
	if ((${#runtime[@]})); then
		local cv=github.com/containerd/containerd/v2/version
		go_build "$E2E_DIR/nodebuild" 0 "-tags=no_btrfs,no_devmapper,no_zfs" \
			"-s -w -X $cv.Version=$CONTAINERD_VERSION -X $cv.Revision=module -X $cv.Package=github.com/containerd/containerd/v2 -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
			"${runtime[@]}"
	fi
	if ((${#netpol[@]})); then
		go_build "$E2E_DIR/netpolbuild" 0 "" "-s -w" "${netpol[@]}"
	fi
	link_bin_dir
}

# A stable directory with a symlink per binary present (for PATH and for tests).
link_bin_dir() {
	local c
	mkdir -p "$BIN_ROOT/current"
	for c in "${COMPONENTS[@]}"; do
		[[ -x "$(bin_path "$c")" ]] && ln -sfn "$(bin_path "$c")" "$BIN_ROOT/current/$c"
	done
	return 0
}

# ensure_built [--control-plane]
ensure_built() {
	local want=("${COMPONENTS[@]}")
	[[ "${1:-}" == "--control-plane" ]] && want=("${CP_COMPONENTS[@]}")
	if [[ -n "$(missing "${want[@]}")" ]]; then
		cmd_build "$@"
	else
		link_bin_dir
	fi
}
