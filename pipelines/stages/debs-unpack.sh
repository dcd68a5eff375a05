#!/bin/sh
# Debian packages for a foreign architecture, resolved, downloaded and unpacked natively.
#
#   sh debs-unpack.sh ARCH STATUS OUT PACKAGE...
#
# apt resolves PACKAGE... as a machine of ARCH would, against STATUS (the target image's own
# dpkg status, so what the image has is not installed again), and downloads the archives into
# /var/cache/apt/archives (the target's cache volume). Each archive is unpacked into OUT/root,
# and OUT/root/var/lib/dpkg holds the target's status with the new packages added, plus each
# one's file list and control files, so `dpkg -l` in the image tells the truth. The packages
# whose maintainer scripts must run on the target are named one a line, in the order apt
# would configure them: OUT/preinst (a preinst that does something on a fresh install) and
# OUT/configure (a postinst); debs-configure.sh runs exactly those, and the build fails if
# one fails, so the status records every package as installed. A preinst made only of
# dpkg-maintscript-helper calls is not run: on a fresh install (no old version) every one of
# its commands does nothing.
set -eu
arch=$1 status=$2 out=$3
shift 3
work=/tmp/nodepipe-debs-work
rm -rf "$work" "$out"
mkdir -p "$work/empty/partial" "$out/root/var/lib/dpkg/info" /var/lib/apt/lists/partial \
  /var/cache/apt/archives/partial
# Unpack through the image's own merged-/usr links: /bin/x lands in usr/bin, as dpkg would.
for top in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$top" ]; then ln -s "$(readlink "/$top")" "$out/root/$top"; fi
done
resolve() {
  apt-get -qq -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch" \
    -o "Dir::State::status=$status" -o Debug::NoLocking=1 "$@"
}
resolve update
# Every archive the install needs, named as apt stores it (an empty archives dir lists them all).
resolve -o "Dir::Cache::archives=$work/empty/" --print-uris install -y --no-install-recommends "$@" \
  | awk '{ print $2 }' > "$work/archives"
resolve install --download-only -y --no-install-recommends "$@" > /dev/null
info="$out/root/var/lib/dpkg/info"
: > "$work/configure"
: > "$work/preinst"
: > "$work/paragraphs"
: > "$work/names"
while read -r file; do
  deb="/var/cache/apt/archives/$file"
  rm -rf "$work/control" && dpkg-deb --control "$deb" "$work/control"
  field() { sed -n "s/^$1: //p" "$work/control/control"; }
  package=$(field Package)
  name=$package
  if [ "$(field Multi-Arch)" = same ]; then name="$package:$arch"; fi
  # One decompression: tar lists what it extracts, which is dpkg's list of the package's files.
  dpkg-deb --fsys-tarfile "$deb" \
    | tar -x -v -p --same-owner --keep-directory-symlink -C "$out/root" \
    | sed -e 's|^\./|/|' -e 's|/$||' -e 's|^$|/.|' > "$info/$name.list"
  for part in "$work"/control/*; do
    kind=${part##*/}
    [ "$kind" = control ] && continue
    cp -p "$part" "$info/$name.$kind"
    case $kind in
      postinst) echo "$package $name" >> "$work/configure" ;;
      preinst)
        if grep -qvE '^[[:space:]]*(#.*|set -e|dpkg-maintscript-helper .*)?$' "$part"; then
          echo "$package $name" >> "$work/preinst"
        fi ;;
    esac
  done
  echo "$package" >> "$work/names"
  {
    sed "/^Package:/a Status: install ok installed" "$work/control/control"
    echo
  } >> "$work/paragraphs"
done < "$work/archives"
# The scripts in the order apt configures the packages (each after what it depends on).
resolve -s install -y --no-install-recommends "$@" \
  | awk '$1 == "Conf" { sub(/:.*/, "", $2); print $2 }' > "$work/order"
for list in configure preinst; do
  awk 'FILENAME == ARGV[1] { name[$1] = $2; seen[++n] = $1; next }
       $1 in name && !done[$1]++ { print name[$1] }
       END { for (i = 1; i <= n; i++) if (!done[seen[i]]) print name[seen[i]] }' \
    "$work/$list" "$work/order" > "$out/$list"
done
# Only the links something was unpacked through: the image may have no /lib64 (arm64 has none).
for top in bin sbin lib lib32 lib64 libx32; do
  link="$out/root/$top"
  if [ -L "$link" ] && [ ! -e "$link/" ]; then rm "$link"; fi
done
# The target's status without the paragraphs of packages replaced (an upgrade), then the new.
awk -v names="$work/names" '
  BEGIN { while ((getline n < names) > 0) drop[n] = 1; RS = ""; ORS = "\n\n" }
  { split($0, lines, "\n"); sub(/^Package: /, "", lines[1]); if (!(lines[1] in drop)) print }
' "$status" > "$out/root/var/lib/dpkg/status"
cat "$work/paragraphs" >> "$out/root/var/lib/dpkg/status"
echo "unpacked $(wc -l < "$work/archives") packages; on the target: preinst of" \
  "$(tr '\n' ' ' < "$out/preinst")and postinst of $(tr '\n' ' ' < "$out/configure")"
