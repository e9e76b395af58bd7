#!/usr/bin/env bash
# cluster-up.sh DIR [BASEPORT]
# cluster-up.sh DIR stop
#
# Starts a throw-away two-node wefgate cluster on loopback for trying the
# set-up of "Running several nodes" by hand (the Go tests use internal/testpg
# and their own HAProxy instead):
#   - PostgreSQL in DIR/pg on 127.0.0.1:BASEPORT (initdb as "nobody" when run
#     as root, because PostgreSQL refuses root);
#   - wefgate node-a and node-b (bin/wefgate, or $WEFGATE_BIN), each with its
#     own data directory DIR/node-a, DIR/node-b, sharing the state in
#     PostgreSQL and one PKI DIR/pki naming "localhost";
#   - HAProxy in TCP mode on 127.0.0.1:BASEPORT+1, sending PROXY v2 headers
#     from 127.0.0.2, which the nodes trust.
# BASEPORT defaults to 25432; the nodes listen on BASEPORT+10.. and their
# admin endpoints on BASEPORT+20.. . It prints the GPO URL, the PIDs and a
# 'wefgate load -target' command; 'cluster-up.sh DIR stop' stops everything
# by PID.
set -euo pipefail

dir=${1:?usage: cluster-up.sh DIR [BASEPORT] | cluster-up.sh DIR stop}
if [[ ${2:-} == stop ]]; then
	[[ -f $dir/pids ]] || { echo "cluster-up.sh: no $dir/pids" >&2; exit 1; }
	read -r pg rest <"$dir/pids"
	for pid in $rest; do kill "$pid" 2>/dev/null || true; done
	kill -INT "$pg" 2>/dev/null || true
	rm -f "$dir/pids"
	exit 0
fi
if [[ -f $dir/pids ]]; then
	echo "cluster-up.sh: $dir/pids exists: the cluster runs; stop it first with: $0 $dir stop" >&2
	exit 1
fi
base=${2:-25432}
bin=${WEFGATE_BIN:-bin/wefgate}
[[ -x $bin ]] || { echo "cluster-up.sh: $bin not found; run make build" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || { echo "cluster-up.sh: install haproxy" >&2; exit 1; }
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
pgbin=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[[ -x $pgbin/initdb ]] || { echo "cluster-up.sh: PostgreSQL not found (install postgresql, or set PG_BINDIR)" >&2; exit 1; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
chmod 755 "$dir"
as_pg=()
if [[ $(id -u) == 0 ]]; then
	as_pg=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
if [[ ! -d $dir/pg/data ]]; then
	mkdir -p "$dir/pg"
	[[ ${#as_pg[@]} -gt 0 ]] && chown nobody "$dir/pg"
	HOME=/tmp "${as_pg[@]}" "$pgbin/initdb" -D "$dir/pg/data" -U wefgate --auth=trust -E UTF8 --locale=C >/dev/null
fi
HOME=/tmp "${as_pg[@]}" "$pgbin/postgres" -D "$dir/pg/data" -c listen_addresses=127.0.0.1 -p "$base" \
	-c unix_socket_directories= >"$dir/postgres.log" 2>&1 &
pg=$!
for _ in $(seq 50); do
	grep -q "ready to accept connections" "$dir/postgres.log" 2>/dev/null && break
	sleep 0.2
done

[[ -d $dir/pki ]] || "$bin" certs -dir "$dir/pki" -server localhost >/dev/null
lb=$((base + 1))
pids=()
i=0
for n in node-a node-b; do
	https=$((base + 10 + i)) admin=$((base + 20 + i))
	mkdir -p "$dir/$n"
	cat >"$dir/$n/wefgate.yaml" <<EOF
data_dir: $dir/$n
hostname: localhost
node: {name: $n}
https:
  address: 127.0.0.1:$https
  advertised_port: $lb
  server_cert: $dir/pki/server.pem
  server_key: $dir/pki/server-key.pem
  ca_files: [$dir/pki/root-ca.pem, $dir/pki/issuing-ca.pem]
proxy_protocol: {trusted_networks: [127.0.0.2]}
state:
  backend: postgres
  postgres: {url: "postgres://wefgate@127.0.0.1:$base/postgres?sslmode=disable"}
admin: {address: 127.0.0.1:$admin}
subscriptions: [{name: load, channel: Security, xpath: "*", delivery: Custom, max_time: 5s}]
limits: {max_connections: 4000}
exporters: {file: {path: $dir/$n/events.jsonl}}
log: {level: warn}
EOF
	"$bin" run -config "$dir/$n/wefgate.yaml" >"$dir/$n.log" 2>&1 &
	pids+=($!)
	i=$((i + 1))
done
cat >"$dir/haproxy.cfg" <<EOF
defaults
  mode tcp
  timeout connect 2s
  timeout client 16m
  timeout server 16m
  retries 3
  option redispatch
frontend wsman_https
  bind 127.0.0.1:$lb
  default_backend nodes
backend nodes
  balance roundrobin
  server node-a 127.0.0.1:$((base + 10)) source 127.0.0.2 send-proxy-v2 check inter 500ms rise 1
  server node-b 127.0.0.1:$((base + 11)) source 127.0.0.2 send-proxy-v2 check inter 500ms rise 1
EOF
for n in node-a node-b; do
	for _ in $(seq 100); do grep -q "https listener ready" "$dir/$n.log" 2>/dev/null && break; sleep 0.1; done
done
"$haproxy" -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
ha=$!
echo "$pg ${pids[*]} $ha" >"$dir/pids"
sleep 1
pgall=$(echo "$pg" $(pgrep -P "$pg" || true) | tr ' ' ',')
cat <<EOF
cluster up: PostgreSQL pid $pg, node-a pid ${pids[0]}, node-b pid ${pids[1]}, HAProxy pid $ha
GPO URL:  https://localhost:$lb/wsman/SubscriptionManager/WEC
hosts:    $bin hosts -config $dir/node-a/wefgate.yaml
load:     $bin load -target https://localhost:$lb/wsman/SubscriptionManager/WEC -target-pki $dir/pki -server-pids ${pids[0]},${pids[1]},$ha,$pgall -hosts 16 -duration 20s
stop:     $0 $dir stop
EOF
