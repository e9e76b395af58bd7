#!/usr/bin/env bash
# Installs staticcheck, pinned, once into a cache directory outside the
# repository, and prints the binary's path. `make lint` runs it.
#
# Usage: scripts/install-staticcheck.sh    (env: WEFGATE_CACHE, XDG_CACHE_HOME)
set -euo pipefail

# honnef.co/go/tools v0.8.2 is staticcheck 2026.2.2; it understands the
# Go version go.mod names; bump it together with go.mod's go line.
version=v0.8.2

cache_root="${WEFGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wefgate}"
dest_dir="$cache_root/staticcheck-$version"
binary="$dest_dir/staticcheck"

if [[ -x "$binary" ]]; then
	echo "$binary"
	exit 0
fi

mkdir -p "$dest_dir"
echo "installing staticcheck $version into $dest_dir" >&2
GOBIN="$dest_dir" go install "honnef.co/go/tools/cmd/staticcheck@$version" >&2
echo "$binary"
