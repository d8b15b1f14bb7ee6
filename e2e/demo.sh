#!/usr/bin/env bash
# The README's main job: bring up the local cluster (building it on first use), install the
# CRDs, start the operator, apply a sample PerfRun, follow its conditions until Finished, print
# the verdict, and tear it down. On kwok nodes containers do not really run, so the run's own
# Prometheus is unreachable and the honest verdict is Inconclusive, with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLE="${1:-examples/perfrun-minimal.yaml}"
NS="${PERFRUN_DEMO_NAMESPACE:-perfrun-demo}"
bash e2e/cluster.sh up
KUBECONFIG="$(bash e2e/cluster.sh kubeconfig)"
PATH="$(bash e2e/cluster.sh bin-dir):$PATH"
export KUBECONFIG PATH
kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/perfruns.perfrun.dev --timeout=60s >/dev/null
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
log="$(mktemp -t perfrun-operator.XXXXXX.log)"
.venv/bin/perfrun operator --standalone -n "$NS" >"$log" 2>&1 &
operator=$!
trap 'kill $operator 2>/dev/null || true; wait $operator 2>/dev/null || true' EXIT
name="$(.venv/bin/python -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' "$EXAMPLE")"
kubectl -n "$NS" delete perfrun "$name" --ignore-not-found --timeout=120s >/dev/null
echo "== applying $EXAMPLE as perfrun/$name in namespace $NS (operator log: $log)"
kubectl -n "$NS" apply -f "$EXAMPLE"
last=""
for _ in $(seq 1 300); do
  phase="$(kubectl -n "$NS" get perfrun "$name" -o jsonpath='{.status.phase}')"
  [ "$phase" != "$last" ] && echo "   phase: ${phase:-Pending}" && last="$phase"
  kubectl -n "$NS" wait --for=condition=Finished "perfrun/$name" --timeout=1s >/dev/null 2>&1 && break
done
kubectl -n "$NS" wait --for=condition=Finished "perfrun/$name" --timeout=10s >/dev/null
echo "== finished"
kubectl -n "$NS" get perfrun "$name" -o wide
kubectl -n "$NS" get perfrun "$name" \
  -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}){"\n"}{end}' | sed 's/^/   /'
echo "== verdict: $(kubectl -n "$NS" get perfrun "$name" -o jsonpath='{.status.verdict}')"
echo "   $(kubectl -n "$NS" get perfrun "$name" -o jsonpath='{.status.message}' | cut -c1-300)"
echo "== deleting perfrun/$name (waits until its namespace is gone)"
kubectl -n "$NS" delete perfrun "$name" --timeout=180s
