#!/usr/bin/env bash
# Meets the real thing: builds GNU Guix from source (a tagged revision of a guix git directory, once,
# cached by commit outside the checkout), starts its daemon as our child, runs the real-Guix test tier
# (pytest -m realguix) against it, and stops the daemon. Offline: Debian 12 carries Guile 3.0 and every
# Guile library Guix's configure requires; nothing is downloaded but Debian packages.
#
#   VMFLEET_GUIX_SOURCE=/path/to/guix.git scripts/real-guix.sh [--build-only] [pytest args…]
#
# Settings (environment):
#   VMFLEET_GUIX_SOURCE   a guix git directory (bare or not) with tags, e.g. a mirror of the guix repository
#   VMFLEET_GUIX_TAG      the revision to build (default v1.4.0)
#   VMFLEET_GUIX_CACHE    where built trees are kept (default ~/.cache/vmfleet-real-guix), one per commit
#   VMFLEET_GUIX_JOBS     make -j (default 2)
# The tier finds the built tree through VMFLEET_REAL_GUIX (set here to CACHE/COMMIT/src).
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=0
if [ "${1:-}" = "--build-only" ]; then build_only=1; shift; fi

if [ -z "${VMFLEET_GUIX_SOURCE:-}" ]; then
  cat >&2 <<'EOF'
real-guix: set VMFLEET_GUIX_SOURCE to a git directory of the guix repository, e.g.
  git clone --mirror https://git.savannah.gnu.org/git/guix.git ~/guix.git
  VMFLEET_GUIX_SOURCE=~/guix.git scripts/real-guix.sh
(a full clone: it needs the tag to build, v1.4.0 by default, with its po/doc translations).
EOF
  exit 2
fi
src_git=$VMFLEET_GUIX_SOURCE
tag=${VMFLEET_GUIX_TAG:-v1.4.0}
jobs=${VMFLEET_GUIX_JOBS:-2}
commit=$(git --git-dir="$src_git" rev-parse --verify --quiet "$tag^{commit}" 2>/dev/null \
         || git -C "$src_git" rev-parse --verify --quiet "$tag^{commit}" 2>/dev/null) || {
  echo "real-guix: $src_git has no revision '$tag' (set VMFLEET_GUIX_TAG to one it has)" >&2; exit 2; }
cache_root=${VMFLEET_GUIX_CACHE:-$HOME/.cache/vmfleet-real-guix}
cache=$cache_root/$commit
tree=$cache/src

# What configure and make need, all from Debian 12 (guile-avahi is optional and Debian has none).
APT_PACKAGES=(
  guile-3.0 guile-3.0-dev guile-git guile-gcrypt guile-json guile-sqlite3 guile-zlib guile-lzlib
  guile-ssh guile-gnutls guile-zstd guile-bytestructures guile-semver
  locales autoconf automake autopoint gettext libtool pkg-config make gcc g++ texinfo help2man po4a graphviz
  libgcrypt20-dev libsqlite3-dev libbz2-dev zlib1g-dev git
)

. scripts/apt-install.sh

# A translated manual whose .po is missing (a partial clone) is left out of doc/local.mk, else make
# stops on a rule it has no source for.
drop_missing_translations() {
  local lang
  for lang in $(sed -n 's/^MANUAL_LANGUAGES = //p' doc/local.mk); do
    [ -e "po/doc/guix-manual.$lang.po" ] && continue
    echo "real-guix: no po/doc/guix-manual.$lang.po: leaving the $lang manual out" >&2
    sed -i -e "/^MANUAL_LANGUAGES = /s/ $lang\b//" -e "\|%D%/guix\.$lang\.texi|d" doc/local.mk
  done
  for lang in $(sed -n 's/^COOKBOOK_LANGUAGES = //p' doc/local.mk); do
    [ -e "po/doc/guix-cookbook.$lang.po" ] && continue
    echo "real-guix: no po/doc/guix-cookbook.$lang.po: leaving the $lang cookbook out" >&2
    sed -i -e "/^COOKBOOK_LANGUAGES = /s/ $lang\b//" -e "\|%D%/guix-cookbook\.$lang\.texi|d" doc/local.mk
  done
}

# The revision's files into $tree. A mirror that lacks some blobs (a partial clone: the translated
# manuals' .po files are the usual ones) is exported without them; drop_missing_translations copes.
# git archive reads every blob, excluded or not, so the tree goes through a private index instead.
export_tree() {
  local g=(git --git-dir="$src_git") index="$cache/index"
  "${g[@]}" ls-tree -r "$commit" > "$cache/files"
  # cat-file answers "SHA missing" for each blob the mirror lacks; join those back to their paths.
  awk '{print $3}' "$cache/files" | "${g[@]}" cat-file --batch-check | awk '$2 == "missing" {print $1}' \
    | awk -F'\t' 'NR == FNR {gone[$1] = 1; next} {split($1, f, " "); if (f[3] in gone) print $2}' \
          - "$cache/files" > "$cache/missing-files"
  while IFS= read -r path; do
    echo "real-guix: $path is not in $src_git: leaving it out" >&2
  done < "$cache/missing-files"
  rm -f "$index"
  GIT_INDEX_FILE=$index "${g[@]}" read-tree "$commit"
  [ -s "$cache/missing-files" ] && GIT_INDEX_FILE=$index "${g[@]}" update-index --force-remove --stdin < "$cache/missing-files"
  GIT_INDEX_FILE=$index "${g[@]}" --work-tree="$tree" checkout-index --all --prefix="$tree/"
  rm -f "$index"
}

# doc/local.mk runs the translated manuals' cross-references through Guile under
# LC_ALL=en_US.UTF-8: without that locale their text becomes '?' and makeinfo stops on
# duplicate node names (the Korean cookbook).
ensure_locale() {
  locale -a 2>/dev/null | grep -qix 'en_US.utf8' && return 0
  echo "real-guix: generating the en_US.UTF-8 locale" >&2
  localedef -i en_US -f UTF-8 en_US.UTF-8
}

build_guix() {
  [ -f "$cache/built" ] && return 0
  apt_install real-guix "${APT_PACKAGES[@]}"
  ensure_locale
  echo "real-guix: building Guix $tag ($commit) in $tree" >&2
  rm -rf "$tree"
  mkdir -p "$tree"
  export_tree
  local start=$SECONDS
  (
    cd "$tree"
    drop_missing_translations
    # bootstrap/configure read the version from git or .tarball-version; an archive has no .git.
    echo "${tag#v}" > .tarball-version
    ./bootstrap
    ./configure --localstatedir=/var --sysconfdir=/etc
    nice -n 19 make -j"$jobs"
  ) > "$cache/build.log" 2>&1 || {
    echo "real-guix: the build failed; the last lines of $cache/build.log:" >&2
    tail -n 30 "$cache/build.log" >&2
    exit 1
  }
  echo $((SECONDS - start)) > "$cache/build-seconds"
  echo "$tag" > "$cache/tag"
  touch "$cache/built"
  echo "real-guix: built in $(cat "$cache/build-seconds") s" >&2
}

mkdir -p "$cache"
build_guix
[ "$build_only" = 1 ] && { echo "real-guix: $tree"; exit 0; }

# The daemon's build users (Guix's manual, "Build Environment Setup"): a group and a few
# unprivileged members, none of whom can log in.
if ! getent group guixbuild >/dev/null; then groupadd --system guixbuild; fi
for i in 01 02 03 04; do
  id "guixbuilder$i" >/dev/null 2>&1 || useradd -g guixbuild -G guixbuild -d /var/empty \
    -s "$(command -v nologin)" -c "Guix build user $i" --system "guixbuilder$i"
done

# The daemon, our child, stopped by its PID whatever happens. One already answering on the
# socket (a run that is still going) is used as it is.
socket=/var/guix/daemon-socket/socket
daemon_pid=
stop_daemon() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
}
trap stop_daemon EXIT
answers() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$socket" 2>/dev/null; }
if answers; then
  echo "real-guix: a guix-daemon already answers on $socket: using it" >&2
else
  "$tree/pre-inst-env" guix-daemon --build-users-group=guixbuild --disable-chroot \
    > "$cache/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 1 300); do answers && break; sleep 0.2; done
  answers || { echo "real-guix: guix-daemon did not start; see $cache/daemon.log" >&2; exit 1; }
fi

scripts/setup.sh
export VMFLEET_REAL_GUIX=$tree
echo "real-guix: Guix $tag ($commit), built in $(cat "$cache/build-seconds" 2>/dev/null || echo '?') s" >&2
start=$SECONDS
status=0
.venv/bin/pytest -p no:cacheprovider -n 0 -m realguix -rA "$@" tests/realguix || status=$?
echo "real-guix: the tier took $((SECONDS - start)) s" >&2
exit "$status"
