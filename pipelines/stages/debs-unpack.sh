#!/bin/sh
# Debian packages for a foreign architecture, resolved, downloaded and unpacked natively.
#
#   sh debs-unpack.sh ARCH STATUS OUT PACKAGE...
#
# apt resolves PACKAGE... as a machine of ARCH would, against STATUS (the target image's own
# dpkg status, so what the image has is not installed again), and downloads the archives into
# /var/cache/apt/archives (the target's cache volume). Each archive is unpacked into OUT/root,
# and OUT/root/var/lib/dpkg holds the target's status with the new packages added, plus each
# one's file list and control files, so `dpkg -l` in the image tells the truth. Packages with a
# postinst are recorded as unpacked and named in OUT/configure, those whose preinst does
# something on a fresh install in OUT/preinst: those scripts run on the target
# (debs-configure.sh). A preinst made only of dpkg-maintscript-helper calls is not run: on a
# fresh install (no old version) every one of its commands does nothing.
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
: > "$out/configure"
: > "$out/preinst"
: > "$work/paragraphs"
: > "$work/names"
while read -r file; do
  deb="/var/cache/apt/archives/$file"
  rm -rf "$work/control" && dpkg-deb --control "$deb" "$work/control"
  package=$(dpkg-deb --field "$deb" Package)
  name=$package
  if [ "$(dpkg-deb --field "$deb" Multi-Arch)" = same ]; then name="$package:$arch"; fi
  dpkg-deb --fsys-tarfile "$deb" \
    | tar -x -p --same-owner --keep-directory-symlink -C "$out/root"
  dpkg-deb --fsys-tarfile "$deb" | tar -t \
    | sed -e 's|^\./|/|' -e 's|/$||' -e 's|^$|/.|' > "$info/$name.list"
  state=installed
  for part in "$work"/control/*; do
    kind=${part##*/}
    [ "$kind" = control ] && continue
    cp -p "$part" "$info/$name.$kind"
    case $kind in
      postinst) state=unpacked ;;
      preinst)
        if grep -qvE '^[[:space:]]*(#.*|set -e|dpkg-maintscript-helper .*)?$' "$part"; then
          echo "$name" >> "$out/preinst"
        fi ;;
    esac
  done
  [ "$state" = unpacked ] && echo "$name" >> "$out/configure"
  echo "$package" >> "$work/names"
  {
    sed "/^Package:/a Status: install ok $state" "$work/control/control"
    echo
  } >> "$work/paragraphs"
done < "$work/archives"
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
