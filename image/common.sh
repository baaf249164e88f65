# Shared by image/build.sh and image/base.sh (sourced, not run).

# buildah with the storage both scripts use: driver $1 (vfs works everywhere, also nested in a
# container) and, when $2 is set, storage (and its run state) under $2. Sets the array bh.
buildah_cmd() {
  bh=(buildah --storage-driver "$1")
  if [ -n "${2:-}" ]; then
    bh+=(--root "$2/storage" --runroot "$2/run")
  fi
}

# The base images the Dockerfile $1 names in its FROM lines (not the names of earlier stages).
dockerfile_bases() {
  awk 'toupper($1) == "FROM" {
         for (i = 2; i <= NF; i++) if ($i !~ /^--/) { img = $i; break }
         if (!(tolower(img) in stages)) print img
         for (; i <= NF; i++) if (toupper($i) == "AS") stages[tolower($(i + 1))] = 1
       }' "$1" | sort -u
}
