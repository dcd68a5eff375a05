#!/bin/sh
# On the target, after debs-unpack.sh's files were merged into the image: only what must
# execute there. The maintainer scripts of the packages named in LIST (their preinst, then
# `dpkg --configure`, which runs each postinst in dependency order), then ldconfig.
#
#   sh debs-configure.sh LIST
set -eu
list=$1
export DEBIAN_FRONTEND=noninteractive
while read -r name; do
  script="/var/lib/dpkg/info/$name.preinst"
  if [ -x "$script" ]; then
    DPKG_MAINTSCRIPT_PACKAGE=${name%%:*} DPKG_MAINTSCRIPT_NAME=preinst "$script" install
  fi
done < "$list"
if [ -s "$list" ]; then dpkg --configure --pending; fi
ldconfig
