#!/usr/bin/env bash
# Installs the system packages wefgate's tests use, when missing: an MIT
# Kerberos KDC (real Kerberos interop), MIT's GSSAPI bindings for Python
# (the interoperability oracle), PostgreSQL (throw-away clusters for the
# shared state store), HAProxy (the load balancer in the cluster tests) and
# Chromium (the status page test), systemd (systemd-analyze checks the service
# unit; nothing is started). Needs root (or sudo) for apt-get.
set -euo pipefail

packages=(krb5-kdc krb5-admin-server krb5-user python3-gssapi postgresql haproxy chromium systemd)
missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
echo "installing test dependencies: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		echo "need root to install ${missing[*]}; install them and run again" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 update -qq
"${sudo[@]}" apt-get install -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends "${missing[@]}" >/dev/null
