#!/usr/bin/env bash
# Builds what the .deb and the .rpm hold besides the units and the config:
# the release binary, and from it the shell completions and the man pages,
# into target/assets/. Run it before `cargo deb --no-build --strip` or
# `cargo generate-rpm` (see docs/deployment.md, "Packages").
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
bin=target/release/groupsync
out=target/assets
rm -rf "$out"
mkdir -p "$out/completions" "$out/man"

# cargo deb strips the binary itself; cargo generate-rpm packs this stripped copy.
strip -o "$out/groupsync" "$bin"

"$bin" completions bash > "$out/completions/groupsync"
"$bin" completions zsh > "$out/completions/_groupsync"
"$bin" completions fish > "$out/completions/groupsync.fish"

# Every man page, groupsync(1) and one per command (groupsync-plan(1), ...),
# as the binary writes them; the packages take target/assets/man/*.1.gz.
"$bin" manpage --out-dir "$out/man"
gzip -9n "$out/man"/*.1

echo "assets in $out:"
find "$out" -type f | sort
