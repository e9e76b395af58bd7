#!/usr/bin/env bash
# Builds a small OpenTelemetry Collector (OTLP receiver -> file and debug
# exporters) for wefgate's end-to-end tests, once, into a cache directory
# outside the repository, and prints the binary's path.
#
# The versions are pinned to the newest release whose whole module graph the
# Go module proxy serves (v0.162.0 / confmap providers v1.68.0); later
# otlpreceiver releases import a module the proxy does not have.
#
# Usage: scripts/build-otelcol.sh    (env: WEFGATE_CACHE, XDG_CACHE_HOME)
set -euo pipefail

collector_version=0.162.0
provider_version=1.68.0

cache_root="${WEFGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wefgate}"
dest_dir="$cache_root/otelcol-$collector_version"
binary="$dest_dir/otelcol"

if [[ -x "$binary" ]]; then
	echo "$binary"
	exit 0
fi

mkdir -p "$dest_dir"
# Several test runs may start at once on a fresh machine: one builds, the
# others wait for it instead of building the same binary in parallel.
exec 8>"$dest_dir/.build.lock"
flock 8
if [[ -x "$binary" ]]; then
	echo "$binary"
	exit 0
fi
work_dir="$(mktemp -d "$dest_dir/build.XXXXXX")"
trap 'rm -rf "$work_dir"' EXIT

echo "building OpenTelemetry Collector v$collector_version in $work_dir" >&2

GOBIN="$work_dir/bin" go install "go.opentelemetry.io/collector/cmd/builder@v$collector_version" >&2

cat >"$work_dir/builder-config.yaml" <<YAML
dist:
  name: otelcol
  description: wefgate test collector (otlp receiver -> file/debug exporters)
  output_path: $work_dir/src
  version: $collector_version
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v$collector_version
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v$collector_version
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter v$collector_version
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v$provider_version
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider v$provider_version
YAML

# The builder's own "go mod tidy" fails because fileexporter's tests import a
# module the proxy does not serve; generate the sources, then tidy with -e
# (which tolerates test-only gaps) and build ourselves.
if ! "$work_dir/bin/builder" --config "$work_dir/builder-config.yaml" --skip-compilation >&2; then
	echo "builder reported an error; continuing with tidy -e" >&2
fi
(
	cd "$work_dir/src"
	go mod tidy -e >&2
	go build -trimpath -ldflags='-s -w' -o "$work_dir/otelcol" .
)

# Rename into place so a concurrent or interrupted build never leaves a
# half-written binary at the final path.
mv "$work_dir/otelcol" "$binary"
echo "$binary"
