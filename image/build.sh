#!/usr/bin/env bash
# `npm run image`: builds the Hoard image from the Dockerfile. With a Docker engine, `docker build`;
# without one, buildah (chroot isolation, vfs storage: no daemon, works inside a container). Where
# no registry serves the Node base images, image/base.sh makes local stand-ins first.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF_USAGE'
Usage: npm run image -- [options]

Builds the Hoard image (one image for every `hoard` command) from the Dockerfile.

Options:
  --tag <name>             image name (default: localhost/hoard:latest)
  --engine <name>          auto, docker or buildah (default: auto = docker when its engine
                           answers, else buildah)
  --base <how>             buildah only: auto, pull or local (default: auto = use the Node base
                           images already in storage, else pull them, else make local stand-ins
                           with image/base.sh); local = always the stand-ins
  --root <dir>             buildah only: keep the storage under this directory (default:
                           buildah's own)
  --storage-driver <name>  buildah only: storage driver (default: vfs)
  --ca <file>              CA bundle npm needs on a TLS-intercepting network, passed as the build
                           secret npm-ca (default: npm's cafile, else $NODE_EXTRA_CA_CERTS, else
                           none); never stored in the image
  -h, --help               show this help

Environment: HOARD_IMAGE_CACHE (image/base.sh's cache, default /var/cache/hoard-image).
EOF_USAGE
}

die() { echo "npm run image: $*" >&2; exit 2; }

tag=localhost/hoard:latest
engine=auto
base=auto
root=""
driver=vfs
ca=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=${2:?--tag needs a name}; shift 2 ;;
    --engine) engine=${2:?--engine needs auto, docker or buildah}; shift 2 ;;
    --base) base=${2:?--base needs auto, pull or local}; shift 2 ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --storage-driver) driver=${2:?--storage-driver needs a name}; shift 2 ;;
    --ca) ca=${2:?--ca needs a file}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case "$engine" in auto|docker|buildah) ;; *) die "--engine $engine: use auto, docker or buildah" ;; esac
case "$base" in auto|pull|local) ;; *) die "--base $base: use auto, pull or local" ;; esac

if [ -z "$ca" ]; then
  ca=$(npm config get cafile 2>/dev/null || true)
  [ "$ca" = null ] || [ "$ca" = undefined ] && ca=""
  [ -n "$ca" ] || ca=${NODE_EXTRA_CA_CERTS:-}
fi
[ -z "$ca" ] || [ -s "$ca" ] || die "--ca $ca: no such file (or empty)"
secret=()
[ -n "$ca" ] && secret=(--secret "id=npm-ca,src=$ca")

if [ "$engine" = auto ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker
  elif command -v buildah >/dev/null; then engine=buildah
  else die "no Docker engine answers and buildah is not installed: apt-get install -y buildah"
  fi
fi

start=$(date +%s)
if [ "$engine" = docker ]; then
  DOCKER_BUILDKIT=1 docker build "${secret[@]}" -t "$tag" .
else
  command -v buildah >/dev/null || die "--engine buildah: buildah is not installed: apt-get install -y buildah"
  buildah_cmd "$driver" "$root"
  base_args=(--storage-driver "$driver")
  [ -n "$root" ] && base_args+=(--root "$root")
  mapfile -t froms < <(dockerfile_bases Dockerfile)
  present() { for f in "${froms[@]}"; do "${bh[@]}" inspect --type image "$f" >/dev/null 2>&1 || return 1; done; }
  if [ "$base" = local ]; then
    image/base.sh "${base_args[@]}"
  elif [ "$base" = auto ] && ! present; then
    pulled=1
    for f in "${froms[@]}"; do timeout 300 "${bh[@]}" pull --quiet "$f" >/dev/null 2>&1 || { pulled=0; break; }; done
    if [ "$pulled" = 0 ]; then
      echo "npm run image: cannot pull ${froms[*]}; making local stand-ins (image/base.sh)" >&2
      image/base.sh "${base_args[@]}"
    fi
  fi
  pull=--pull=never
  [ "$base" = pull ] && pull=--pull=missing
  # --layers: an unchanged package-lock.json reuses the npm ci layer on the next build.
  old=$("${bh[@]}" inspect --type image --format '{{.FromImageID}}' "$tag" 2>/dev/null || true)
  "${bh[@]}" build --isolation chroot "$pull" --layers "${secret[@]}" -t "$tag" -f Dockerfile .
  # A storage of our own (--root) drops the image the tag named before. The build stage's
  # intermediate images stay: they are the next build's cache (npm ci). With vfs every layer is a
  # full copy, so past HOARD_IMAGE_STORAGE_MAX_MIB (default 20 GiB) everything no tag names goes.
  # The default storage is the user's: left alone.
  if [ -n "$root" ]; then
    new=$("${bh[@]}" inspect --type image --format '{{.FromImageID}}' "$tag")
    [ -z "$old" ] || [ "$old" = "$new" ] || "${bh[@]}" rmi "$old" >/dev/null 2>&1 || true
    if [ "$(du -sm "$root/storage" | cut -f1)" -gt "${HOARD_IMAGE_STORAGE_MAX_MIB:-20480}" ]; then
      "${bh[@]}" rmi --prune >/dev/null 2>&1 || true
    fi
  fi
fi
echo "npm run image: built $tag with $engine in $(($(date +%s) - start)) s" >&2
