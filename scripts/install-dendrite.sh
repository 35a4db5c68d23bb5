#!/usr/bin/env bash
# Installs the Dendrite Matrix homeserver used by the end-to-end tests and the demo into
# .cache/bin of the repository (git-ignored). Does nothing when the binaries are already there,
# so it is safe to run before every test run.
set -euo pipefail

DENDRITE_VERSION="${DENDRITE_VERSION:-v0.13.8}"
BINARIES=(dendrite generate-keys generate-config create-account)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="$root/.cache/bin"

find_missing() {
	missing=()
	for bin in "${BINARIES[@]}"; do
		if [[ ! -x "$bindir/$bin" ]]; then
			missing+=("$bin")
		fi
	done
}

find_missing
if [[ ${#missing[@]} -eq 0 ]]; then
	echo "Dendrite $DENDRITE_VERSION is installed in $bindir"
	exit 0
fi

mkdir -p "$bindir"
# Several test processes may start at once: let one install while the others wait, then look again.
if command -v flock >/dev/null; then
	exec 9>"$bindir/.install.lock"
	flock 9
	find_missing
	if [[ ${#missing[@]} -eq 0 ]]; then
		echo "Dendrite $DENDRITE_VERSION is installed in $bindir"
		exit 0
	fi
fi
pkgs=()
for bin in "${missing[@]}"; do
	pkgs+=("github.com/matrix-org/dendrite/cmd/$bin@$DENDRITE_VERSION")
done
echo "Installing Dendrite $DENDRITE_VERSION (${missing[*]}) into $bindir; the first time takes a minute or two..."
# Outside the module so that Dendrite's own dependency versions are used, not ours.
(cd "$bindir" && GOBIN="$bindir" go install "${pkgs[@]}")
for bin in "${BINARIES[@]}"; do
	if [[ ! -x "$bindir/$bin" ]]; then
		echo "Dendrite installation failed: $bindir/$bin is missing" >&2
		exit 1
	fi
done
echo "Dendrite $DENDRITE_VERSION installed in $bindir"
