#!/usr/bin/env bash
# A real etcd + kube-apiserver on 127.0.0.1 for trying the webhook by hand, with the same flags
# as the test launcher (test/helpers/cluster.ts). Binaries come from KUBEBUILDER_ASSETS, the
# layout of controller-runtime's envtest: `export KUBEBUILDER_ASSETS=$(setup-envtest use 1.32 -p path)`.
#   usage: scripts/local-apiserver.sh up DIR     → prints `export KUBECONFIG=DIR/kubeconfig`
#          scripts/local-apiserver.sh down DIR   → stops both (by recorded pid) and removes DIR
# Service ClusterIPs come from 127.200.0.0/16 so the apiserver only ever dials loopback.
set -euo pipefail
cmd=${1:?usage: local-apiserver.sh up|down DIR}
dir=${2:?usage: local-apiserver.sh up|down DIR}
if [ "$cmd" = down ]; then
  for n in kube-apiserver etcd; do
    [ -s "$dir/$n.pid" ] && kill "$(cat "$dir/$n.pid")" 2>/dev/null && sleep 1
  done
  rm -rf "$dir"
  exit 0
fi
bin=${KUBEBUILDER_ASSETS:?set KUBEBUILDER_ASSETS to a directory holding kube-apiserver and etcd}
ep=${ETCD_PORT:-32379} ap=${APISERVER_PORT:-36443}
mkdir -p "$dir/pki" && dir=$(cd "$dir" && pwd) && cd "$dir/pki"
umask 077
# Plain-ASCII names: Go's crypto/x509 refuses e.g. '@' in a PrintableString.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=local-ca" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > san.ext
openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile san.ext -out apiserver.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile client.ext -out admin.crt 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
cd "$dir"
"$bin/etcd" --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$ep" --advertise-client-urls "http://127.0.0.1:$ep" \
  --listen-peer-urls "http://127.0.0.1:$((ep + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ep + 1))" \
  --initial-cluster "default=http://127.0.0.1:$((ep + 1))" >etcd.log 2>&1 </dev/null &
echo $! > etcd.pid
"$bin/kube-apiserver" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$ap" \
  --etcd-servers="http://127.0.0.1:$ep" --feature-gates=ConsistentListFromCache=false \
  --client-ca-file=pki/ca.crt --tls-cert-file=pki/apiserver.crt --tls-private-key-file=pki/apiserver.key \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file=pki/sa.pub \
  --service-account-signing-key-file=pki/sa.key --authorization-mode=RBAC \
  --service-cluster-ip-range=127.200.0.0/16 --endpoint-reconciler-type=none \
  --disable-admission-plugins=ServiceAccount --cert-dir="$dir/pki/serving" >kube-apiserver.log 2>&1 </dev/null &
echo $! > kube-apiserver.pid
cat > kubeconfig <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$ap", certificate-authority: "$dir/pki/ca.crt"}}]
users: [{name: admin, user: {client-certificate: "$dir/pki/admin.crt", client-key: "$dir/pki/admin.key"}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
KC
for _ in $(seq 1 240); do
  if curl -sf --cacert pki/ca.crt --cert pki/admin.crt --key pki/admin.key "https://127.0.0.1:$ap/readyz" >/dev/null; then
    echo "export KUBECONFIG=$dir/kubeconfig"; exit 0
  fi
  sleep 0.5
done
echo "kube-apiserver not ready after 2 minutes; see $dir/kube-apiserver.log" >&2
exit 1
