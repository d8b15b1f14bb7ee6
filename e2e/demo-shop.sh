#!/usr/bin/env bash
# The shop on the local cluster's real node: the baseline PerfRun to Passed (promoted as
# PerfBaseline shop-main), then the same release with a planted regression (default
# n_plus_one) to Failed with BaselineRegressed naming the metric and both numbers. Prints
# progress lines, the verdicts and where the HTML reports are.
#
#   e2e/demo-shop.sh [REGRESSION...]   (default n_plus_one; "none" runs the release as it
#                                      is; SHOP_DEMO_NAMESPACE, default perfrun-demo)
#
# Builds what it needs (cluster binaries, images) through e2e/cluster.sh up --with-node.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- n_plus_one
NS="${SHOP_DEMO_NAMESPACE:-perfrun-demo}"
OUT="${SHOP_DEMO_OUT:-$PWD/reports}"
PY=.venv/bin/python
say() { printf '== %s\n' "$*"; }

started_all=$SECONDS
say "images and the local cluster with its real node (built on first use, cached after)"
build_log="$(mktemp -t perfrun-images.XXXXXX.log)"
bash e2e/images.sh build >"$build_log" 2>&1 || {
	cat "$build_log" >&2
	exit 1
}
grep -v ': up to date' "$build_log" >&2 || true # only what was built
bash e2e/cluster.sh up --with-node >&2
KUBECONFIG="$(bash e2e/cluster.sh kubeconfig)"
PATH="$(bash e2e/cluster.sh bin-dir):$PATH"
export KUBECONFIG PATH
kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/perfruns.perfrun.dev --timeout=60s >/dev/null
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

# run pods on the real node, with the images built here
eval "$(bash e2e/images.sh operator-env)"
export PERFRUN_NODE_SELECTOR='{"perfrun.dev/node":"real"}'
export PERFRUN_TOLERATIONS='[{"key":"perfrun.dev/node","operator":"Equal","value":"real","effect":"NoSchedule"}]'
# the API server as run pods' NetworkPolicies see it: the kubernetes Service's endpoints
PERFRUN_API_SERVER_CIDRS="$(kubectl get endpointslice -n default -l kubernetes.io/service-name=kubernetes \
	-o jsonpath='{range .items[*].endpoints[*].addresses[*]}{@}/32,{end}')"
PERFRUN_API_SERVER_PORTS="$(kubectl get endpointslice -n default -l kubernetes.io/service-name=kubernetes \
	-o jsonpath='{range .items[*].ports[*]}{.port},{end}')"
export PERFRUN_API_SERVER_CIDRS PERFRUN_API_SERVER_PORTS
log="$(mktemp -t perfrun-operator.XXXXXX.log)"
.venv/bin/perfrun operator --standalone -n "$NS" >"$log" 2>&1 &
operator=$!
trap 'kill $operator 2>/dev/null || true; wait $operator 2>/dev/null || true' EXIT
say "operator started (log: $log)"

field() { kubectl -n "$NS" get perfrun "$1" -o jsonpath="$2" 2>/dev/null || true; }

# follow NAME: one line per phase change and per load progress change, until Finished
follow() {
	local name="$1" last="" line phase load started=$SECONDS
	while :; do
		phase="$(field "$name" '{.status.phase}')"
		load="$(field "$name" '{.status.load.step}/{.status.load.steps} {.status.load.achievedRps}')"
		line="${phase:-Pending}"
		[ "$phase" = Loading ] && [ "${load%% *}" != / ] && line="$line: step $load rps"
		if [ "$line" != "$last" ]; then
			printf '   %4ss  %s\n' "$((SECONDS - started))" "$line"
			last="$line"
		fi
		[ "$(field "$name" '{.status.conditions[?(@.type=="Finished")].status}')" = True ] && break
		[ $((SECONDS - started)) -lt 1800 ] || {
			echo "   timed out after 30 min" >&2
			return 1
		}
		sleep 3
	done
}

verdict() {
	local name="$1"
	RUN_JSON="$(kubectl -n "$NS" get perfrun "$name" -o json)" "$PY" - <<'PY'
import json, os
st = json.loads(os.environ["RUN_JSON"]).get("status", {})
r = st.get("results") or {}
reason = next((c.get("reason") for c in st.get("conditions", []) if c["type"] == "Finished"), "")


def num(key, unit=""):
    v = r.get(key)
    return "-" if v is None else f"{v:g}{unit}"


print(
    f"   verdict {st.get('verdict')} ({reason}): p99 {num('p99Ms', ' ms')}, "
    f"{num('requests')} requests at {num('throughputRps', ' req/s')}, "
    f"error rate {num('errorRate')}, max queue depth {num('maxQueueDepth')}"
)
for g in r.get("gates") or []:
    print(f"   gate {g['name']:<13} {g['outcome']:<7} {g.get('message', '')[:150]}")
for b in r.get("regressions") or []:
    print(f"   baseline {b['metric']:<10} {b['outcome']:<7} {b.get('message', '')[:150]}")
PY
	mkdir -p "$OUT"
	.venv/bin/perfrun report "$name" -n "$NS" --format html -o "$OUT/$name.html" >/dev/null 2>&1 &&
		echo "   HTML report: $OUT/$name.html"
}

apply() { # FILE NAME REGRESSIONS
	"$PY" - "$1" "$2" "$3" <<'PY' | kubectl -n "$NS" apply -f - >/dev/null
import sys, yaml
path, name, regressions = sys.argv[1:]
doc = yaml.safe_load(open(path))
doc["metadata"]["name"] = name
spec = doc["spec"]["environment"]
for part in [*spec["workloads"], spec["migrations"]]:
    part["env"] = [e for e in part.get("env", []) if e["name"] != "SHOP_REGRESSIONS"]
    part["env"].append({"name": "SHOP_REGRESSIONS", "value": regressions})
print(yaml.safe_dump(doc))
PY
}

kubectl -n "$NS" delete perfrun --all --timeout=300s >/dev/null
kubectl -n "$NS" delete perfbaseline shop-main --ignore-not-found >/dev/null

say "1/$(($# + 1)) shop-baseline: the shop as released, judged on its gates, promoted as shop-main"
apply examples/shop/perfrun-baseline.yaml shop-baseline ""
follow shop-baseline
verdict shop-baseline
kubectl -n "$NS" get perfbaseline shop-main \
	-o jsonpath='   baseline shop-main: p99 {.spec.values.p99Ms} ms, error rate {.spec.values.errorRate}{"\n"}'
# one run at a time fits a small node: the baseline's environment goes before the next run
kubectl -n "$NS" delete perfrun shop-baseline --timeout=300s >/dev/null
echo "   shop-baseline's namespace deleted (its report and PerfBaseline stay)"

i=0
for regression in "$@"; do
	i=$((i + 1))
	value="$regression"
	[ "$regression" != none ] || value=""
	name="shop-release-${regression//_/-}"
	say "$((i + 1))/$(($# + 1)) $name: the same release with SHOP_REGRESSIONS=$value, compared with shop-main"
	apply examples/shop/perfrun-release.yaml "$name" "$value"
	follow "$name"
	verdict "$name"
	kubectl -n "$NS" get perfrun "$name" -o wide | sed 's/^/   /'
	# the operator stops with this script: nothing may outlive it but the reports
	kubectl -n "$NS" delete perfrun "$name" --timeout=300s >/dev/null
	echo "   $name's namespace deleted (its report ConfigMap perfrun-report-$name stays)"
done
say "done in $((SECONDS - started_all))s; HTML reports in $OUT/ (perfrun report NAME -n $NS shows them again)"
