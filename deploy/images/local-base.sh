#!/usr/bin/env bash
# Assembles a Node base image from this machine's own node and npm, for a place where official
# images cannot be pulled (CI here). It holds node, npm, the shared libraries node links against,
# CA certificates and a passwd entry for the runtime user: no shell, no package manager.
#
#   deploy/images/local-base.sh [IMAGE]      (default localhost/msa-poc-node-base:<node major>)
#
# Prints the image name on its last line. Needs buildah; run as root (or inside `buildah unshare`).
set -euo pipefail

die() { echo "local-base: $*" >&2; exit 1; }

command -v buildah >/dev/null || die "buildah is not installed; install it (apt-get install -y buildah) or pull an official Node image instead"
node_bin=$(readlink -f "$(command -v node)") || die "node is not on PATH"
npm_dir=$(readlink -f "$(dirname "$node_bin")/../lib/node_modules/npm")
[ -f "$npm_dir/bin/npm-cli.js" ] || die "npm is not beside node (looked in $npm_dir)"
major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
image=${1:-localhost/msa-poc-node-base:$major}
# vfs works where overlay mounts are not allowed (containers, CI sandboxes); STORAGE_DRIVER overrides.
storage=(--storage-driver "${STORAGE_DRIVER:-vfs}")

container=$(buildah "${storage[@]}" from scratch)
trap 'buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true' EXIT
root=$(buildah "${storage[@]}" mount "$container")

# node where official images have it, npm beside it, and the libraries the loader resolves for node.
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ldd "$node_bin" | awk '/=> \//{print $3} /^\s*\/[^ ]+ \(/{print $1}' | sort -u | while read -r library; do
  cp -L --parents "$library" "$root/"
done

# TLS to the registry in the build stage, and name resolution through libc.
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/root"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:10001:10001:msa-poc workload:/tmp:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\napp:x:10001:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"

buildah "${storage[@]}" unmount "$container" >/dev/null
buildah "${storage[@]}" config \
  --env PATH=/usr/local/bin:/usr/bin:/bin \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  --label org.opencontainers.image.description="Node $("$node_bin" --version) and npm from the build machine, for msa-poc images" \
  --cmd '["node"]' "$container"
buildah "${storage[@]}" commit --quiet "$container" "$image" >/dev/null
echo "$image"
