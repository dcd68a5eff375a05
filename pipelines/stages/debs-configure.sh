#!/bin/sh
# On the target, after debs-unpack.sh's files were merged into the image: only what must
# execute there. The preinst of the packages named in DIR/preinst, then the postinst of those
# named in DIR/configure (in the order apt configures them), as dpkg runs them for a fresh
# install, then ldconfig (dpkg's trigger for new libraries).
#
#   sh debs-configure.sh DIR
#
# The scripts run directly, not through `dpkg --configure`: dpkg itself would only add, under
# emulation, reading its whole database and syncing it after each package (seconds per
# package on a foreign target), and the status already says installed (a script that fails
# fails the build, so no image ships with a package half configured).
set -eu
dir=$1 arch=$(dpkg --print-architecture)
export DEBIAN_FRONTEND=noninteractive DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= \
  DPKG_MAINTSCRIPT_ARCH="$arch"
run() {  # run NAME SCRIPT ARG...: one maintainer script of package NAME (NAME:ARCH or NAME)
  name=$1 script=$2
  shift 2
  DPKG_MAINTSCRIPT_PACKAGE=${name%%:*} DPKG_MAINTSCRIPT_NAME=$script \
    "/var/lib/dpkg/info/$name.$script" "$@"
}
while read -r name; do run "$name" preinst install; done < "$dir/preinst"
while read -r name; do
  echo "Setting up $name"
  run "$name" postinst configure ""
done < "$dir/configure"
ldconfig
