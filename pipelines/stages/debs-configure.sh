#!/bin/sh
# On the target, after debs-unpack.sh's files were merged into the image: only what must
# execute there. The preinst of the packages named in DIR/preinst, then `dpkg --configure`
# for those named in DIR/configure (each postinst, in dependency order), then ldconfig.
#
#   sh debs-configure.sh DIR
set -eu
dir=$1
export DEBIAN_FRONTEND=noninteractive
while read -r name; do
  DPKG_MAINTSCRIPT_PACKAGE=${name%%:*} DPKG_MAINTSCRIPT_NAME=preinst \
    "/var/lib/dpkg/info/$name.preinst" install
done < "$dir/preinst"
if [ -s "$dir/configure" ]; then dpkg --configure --pending; fi
ldconfig
