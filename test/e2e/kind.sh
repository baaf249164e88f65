#!/usr/bin/env bash
# End to end on kind (needs Docker, kind, helm, kubectl; not run in CI here, where no Docker
# engine exists). Builds the image, installs the chart, caches a folder dataset served from every
# node, mounts the PVC in a pod and checks the bytes, then runs a DataLoad.
#   test/e2e/kind.sh            # creates cluster "hoard-e2e", tears it down at the end
#   KEEP=1 test/e2e/kind.sh     # keeps the cluster for poking around
set -euo pipefail
cd "$(dirname "$0")/../.."
cluster=hoard-e2e
image=hoard:e2e
for t in docker kind helm kubectl; do command -v "$t" >/dev/null || { echo "e2e: $t is required" >&2; exit 2; }; done

kind create cluster --name "$cluster" --wait 120s
[ "${KEEP:-0}" = 1 ] || trap 'kind delete cluster --name "$cluster"' EXIT
docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"

# Sample data on the node, read through a file:// mount (as an NFS export would be).
docker exec "$cluster-control-plane" sh -c 'mkdir -p /srv/hoard-e2e/sub && head -c 33554432 /dev/urandom > /srv/hoard-e2e/big.bin && echo hello > /srv/hoard-e2e/sub/a.txt && sha256sum /srv/hoard-e2e/big.bin > /srv/hoard-e2e.sha'

helm install hoard charts/hoard --wait --set image.repository=hoard --set image.tag=e2e --set image.pullPolicy=Never
kubectl apply -f examples/e2e-dataset.yaml
kubectl wait dataset/e2e --for=jsonpath='{.status.phase}'=Bound --timeout=180s
kubectl apply -f examples/e2e-pod.yaml
kubectl wait pod/e2e-reader --for=condition=Ready --timeout=180s
want=$(docker exec "$cluster-control-plane" cut -d' ' -f1 /srv/hoard-e2e.sha)
got=$(kubectl exec e2e-reader -- sha256sum /data/local/big.bin | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "e2e: sha256 mismatch: $want != $got" >&2; exit 1; }
kubectl apply -f examples/e2e-dataload.yaml
kubectl wait dataload/e2e-warmup --for=jsonpath='{.status.phase}'=Complete --timeout=300s
kubectl get datasets -o wide
echo "e2e: OK"
