#!/usr/bin/env bash
# kdc-up.sh DIR [PORT] [REALM] [HOST] [CLIENTS]
#
# Creates a throw-away MIT Kerberos realm in DIR for trying wefgate by hand
# (the Go tests use internal/testkdc instead): a KDC on 127.0.0.1:PORT, a
# collector keytab DIR/wec.keytab with HTTP/HOST and HOST/HOST, and a client
# keytab DIR/client.keytab for WIN001$ .. WIN<CLIENTS>$ (the forwarder's
# default principal pattern). No root, systemd or DNS needed; HOST defaults
# to localhost so that no name has to resolve.
# Prints the environment to use; stop the KDC with: kill "$(cat DIR/kdc.pid)".
#
# Example:
#   eval "$(scripts/kdc-up.sh /tmp/realm)"
#   # wefgate config: http.keytab = /tmp/realm/wec.keytab
#   wefgate forwarder -url http://localhost:5985/wsman/SubscriptionManager/WEC \
#       -keytab /tmp/realm/client.keytab -hosts 3
set -euo pipefail

dir=${1:?usage: kdc-up.sh DIR [PORT] [REALM] [HOST] [CLIENTS]}
port=${2:-8800}
realm=${3:-EXAMPLE.TEST}
host=${4:-localhost}
clients=${5:-3}

for tool in kdb5_util kadmin.local krb5kdc; do
	if ! command -v "$tool" >/dev/null && [[ ! -x /usr/sbin/$tool ]]; then
		echo "kdc-up.sh: $tool not found; install krb5-kdc krb5-admin-server krb5-user" >&2
		exit 1
	fi
done
export PATH=$PATH:/usr/sbin

mkdir -p "$dir/db"
dir=$(cd "$dir" && pwd)
cat >"$dir/krb5.conf" <<EOC
[libdefaults]
    default_realm = $realm
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
    $realm = {
        kdc = 127.0.0.1:$port
    }

[domain_realm]
    $host = $realm
EOC
cat >"$dir/kdc.conf" <<EOC
[kdcdefaults]
    kdc_listen = 127.0.0.1:$port
    kdc_tcp_listen = 127.0.0.1:$port

[realms]
    $realm = {
        database_name = $dir/db/principal
        key_stash_file = $dir/db/stash
        acl_file = $dir/kadm5.acl
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }

[logging]
    kdc = FILE:$dir/kdc.log
EOC
: >"$dir/kadm5.acl"
export KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf

kadmin() { kadmin.local -r "$realm" -q "$1" >/dev/null 2>"$dir/kadmin.err" || { cat "$dir/kadmin.err" >&2; exit 1; }; }
kdb5_util create -s -r "$realm" -P "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >/dev/null
clientNames=()
for i in $(seq "$clients"); do
	name=$(printf 'WIN%03d$' "$i")
	kadmin "addprinc -randkey +requires_preauth $name"
	clientNames+=("$name")
done
kadmin "addprinc -randkey HTTP/$host"
kadmin "addprinc -randkey HOST/$host"
# -norandkey keeps the keys the KDC already has, so exporting twice is safe.
kadmin "ktadd -norandkey -k $dir/wec.keytab HTTP/$host HOST/$host"
kadmin "ktadd -norandkey -k $dir/client.keytab ${clientNames[*]}"

krb5kdc -n -r "$realm" </dev/null >"$dir/kdc.out" 2>&1 &
echo $! >"$dir/kdc.pid"
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "export KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf KRB5CCNAME=FILE:$dir/ccache"
		exit 0
	fi
	sleep 0.05
done
echo "kdc-up.sh: KDC did not start; see $dir/kdc.out and $dir/kdc.log" >&2
exit 1
