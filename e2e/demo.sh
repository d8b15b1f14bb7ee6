#!/usr/bin/env bash
# The README's main job, on a real node: bring up the local cluster with its real node (building
# it and the images on first use), install the CRDs, start the operator with the local image
# map and run-pod placement on that node, apply a sample PerfRun, follow it until Finished,
# print the verdict and the numbers it was computed from (the run's own Prometheus and the load
# summary), and delete the run.
#
#   e2e/demo.sh [example.yaml]     default examples/perfrun-minimal.yaml
#
# Workload images in the example (nginx:1.27) are replaced by the locally built image of the
# same program (images.tsv), since nothing is pulled from a registry here.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLE="${1:-examples/perfrun-minimal.yaml}"
NS="${PERFRUN_DEMO_NAMESPACE:-perfrun-demo}"
start=$SECONDS

bash e2e/cluster.sh up --with-node
KUBECONFIG="$(bash e2e/cluster.sh kubeconfig)"
PATH="$(bash e2e/cluster.sh bin-dir):$PATH"
export KUBECONFIG PATH
tsv="${PERFRUN_IMAGES_TSV:-${PERFRUN_CACHE_DIR:-$HOME/.cache/perfrun}/images/images.tsv}"

# The operator's settings: the image map of the local images, and run pods on the real node.
[[ -f e2e/images.sh ]] || {
	echo "e2e/images.sh is missing: the demo needs the local images (issue 12)" >&2
	exit 1
}
operator_env="$(bash e2e/images.sh operator-env)"
eval "$operator_env"
PERFRUN_NODE_SELECTOR="$(bash e2e/cluster.sh node-env | sed -n 's/^NODE_SELECTOR=//p')"
PERFRUN_TOLERATIONS="$(bash e2e/cluster.sh node-env | sed -n 's/^NODE_TOLERATIONS=//p')"
# the API server's real endpoints (what the run's load pods and Prometheus may reach)
PERFRUN_API_SERVER_CIDRS="$(kubectl get endpointslice -n default -l kubernetes.io/service-name=kubernetes \
	-o jsonpath='{range .items[*].endpoints[*].addresses[*]}{@}/32,{end}')"
PERFRUN_API_SERVER_PORTS="$(kubectl get endpointslice -n default -l kubernetes.io/service-name=kubernetes \
	-o jsonpath='{range .items[*].ports[*]}{.port},{end}')"
export PERFRUN_NODE_SELECTOR PERFRUN_TOLERATIONS PERFRUN_API_SERVER_CIDRS PERFRUN_API_SERVER_PORTS

kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/perfruns.perfrun.dev --timeout=60s >/dev/null
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
log="$(mktemp -t perfrun-operator.XXXXXX.log)"
.venv/bin/perfrun operator --standalone -n "$NS" >"$log" 2>&1 &
operator=$!
trap 'kill $operator 2>/dev/null || true; wait $operator 2>/dev/null || true' EXIT

spec="$(mktemp -t perfrun-demo.XXXXXX.yaml)"
name="$(
	.venv/bin/python - "$EXAMPLE" "$tsv" "$spec" <<'EOF'
import sys, yaml
example, tsv, out = sys.argv[1:]
local = {}
for line in open(tsv):
    parts = line.rstrip("\n").split("\t")
    if len(parts) == 3:
        local[parts[0]] = parts[1]
doc = yaml.safe_load(open(example))
for w in doc["spec"]["environment"].get("workloads", []):
    program = w.get("image", "").rsplit("/", 1)[-1].split(":", 1)[0]
    if program in local:
        w["image"] = local[program]
yaml.safe_dump(doc, open(out, "w"), sort_keys=False)
print(doc["metadata"]["name"])
EOF
)"
kubectl -n "$NS" delete perfrun "$name" --ignore-not-found --timeout=180s >/dev/null
echo "== applying $EXAMPLE as perfrun/$name in namespace $NS (operator log: $log)"
kubectl -n "$NS" apply -f "$spec"
last=""
for _ in $(seq 1 600); do
	phase="$(kubectl -n "$NS" get perfrun "$name" -o jsonpath='{.status.phase}')"
	[[ "$phase" != "$last" ]] && echo "   phase: ${phase:-Pending}" && last="$phase"
	kubectl -n "$NS" wait --for=condition=Finished "perfrun/$name" --timeout=1s >/dev/null 2>&1 && break
done
kubectl -n "$NS" wait --for=condition=Finished "perfrun/$name" --timeout=10s >/dev/null
echo "== finished"
get() { kubectl -n "$NS" get perfrun "$name" -o "jsonpath=$1"; }
kubectl -n "$NS" get perfrun "$name" -o wide
get '{range .status.conditions[*]}{.type}={.status} ({.reason}){"\n"}{end}' | sed 's/^/   /'
run_ns="$(get '{.status.namespace}')"
echo "== pods of the run, on the real node:"
kubectl -n "$run_ns" get pods -o wide 2>/dev/null | sed 's/^/   /' || true
served="$(kubectl -n "$run_ns" logs -l perfrun.dev/component=api --tail=-1 2>/dev/null | grep -v kube-probe | grep -c '"GET ' || true)"
echo "== nginx's own access log: $served requests served (kubelet probes not counted)"
kubectl -n "$NS" get perfrun "$name" -o json | .venv/bin/python -c '
import json, sys
r = json.load(sys.stdin).get("status", {}).get("results") or {}
def show(label, key, unit="", fmt="{:.2f}"):
    v = r.get(key)
    src = (r.get("sources") or {}).get(key, "")
    text = "-" if v is None else fmt.format(v) + unit
    print(f"   {label:<13} {text}" + (f"   (from {src})" if src else ""))
print("== results")
show("p50", "p50Ms", " ms")
show("p95", "p95Ms", " ms")
show("p99", "p99Ms", " ms")
show("throughput", "throughputRps", " req/s")
show("error rate", "errorRate", "", "{:.4f}")
show("queue depth", "maxQueueDepth", "", "{:.0f}")
show("requests", "requests", "", "{}")
for g in r.get("gates") or []:
    print("   gate {}: {} (value {}, {}, from {})".format(
        g.get("name"), g.get("outcome"), g.get("value"), g.get("threshold"), g.get("source")))
'
# What the run's own Prometheus recorded (through the API server's service proxy).
prom() {
	kubectl get --raw "/api/v1/namespaces/$run_ns/services/prometheus:9090/proxy/api/v1/query?query=$1" 2>/dev/null |
		.venv/bin/python -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "-")' 2>/dev/null ||
		echo "-"
}
echo "== the run's Prometheus"
echo "   targets scraped (up)   $(prom 'count(max_over_time(up%5B15m%5D)%3D%3D1)')"
echo "   requests recorded      $(prom 'sum(max_over_time(perfrun_request_duration_seconds_count%5B15m%5D))')"
echo "   p99 seconds            $(prom 'histogram_quantile(0.99,sum%20by(le)(max_over_time(perfrun_request_duration_seconds_bucket%5B15m%5D)))')"
echo "== verdict: $(get '{.status.verdict}')"
echo "   $(get '{.status.message}' | cut -c1-300)"
echo "== deleting perfrun/$name (waits until its namespace is gone)"
kubectl -n "$NS" delete perfrun "$name" --timeout=180s
echo "== demo took $((SECONDS - start))s"
