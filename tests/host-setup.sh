#!/usr/bin/env bash
# Installs what the component tests run for real: a local OCI registry with htpasswd auth, skopeo,
# arm64 emulation (qemu-user-static + binfmt), arm64 C/C++ runtimes and a cross compiler, and
# Node for both architectures from the npm registry, and pnpm 9 and 10, yarn 1 and yarn 4 (the
# versions pipelines/packagers/detect.py picks when package.json pins none). Idempotent; needs
# root (or sudo).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/.tools"
node_version="${NODEPIPE_TEST_NODE_VERSION:-22.23.3}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

apt_packages=(docker-registry apache2-utils skopeo qemu-user-static binfmt-support
              g++-aarch64-linux-gnu libc6:arm64 libstdc++6:arm64 curl shellcheck)
missing=()
dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "host-setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian package starts no service here; the tests start their own registries.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  $sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
$sudo update-binfmts --enable qemu-aarch64 2>/dev/null || true

mkdir -p "$tools"
for arch in x64 arm64; do
  if [ ! -x "$tools/node-$arch/bin/node" ]; then
    echo "host-setup: fetching node-linux-$arch@$node_version" >&2
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$node_version" >/dev/null)
    mkdir -p "$tools/node-$arch"
    tar -xzf "$tmp"/node-linux-"$arch"-*.tgz -C "$tools/node-$arch" --strip-components=1
    rm -rf "$tmp"
  fi
done
# Package managers from the npm registry into their own prefixes (no corepack download here:
# the component tests run the install commands, corepack is the build containers' business).
for spec in pnpm-9:pnpm@9.15.9 pnpm-10:pnpm@10.34.9 yarn-1:yarn@1.22.22 \
            yarn-4:@yarnpkg/cli-dist@4.18.1; do
  dir=${spec%%:*}
  if [ ! -x "$tools/$dir/bin/${dir%%-*}" ]; then
    echo "host-setup: installing ${spec#*:} into $tools/$dir" >&2
    npm install --global --silent --no-audit --no-fund --prefix "$tools/$dir" "${spec#*:}"
  fi
done

# A distribution v3 registry, which deletes tags (Debian's docker-registry is 2.8, which never
# does): the staging-tag cleanup tests need one. Built from its Go module.
if [ ! -x "$tools/registry-v3/registry" ] && command -v go >/dev/null; then
  echo "host-setup: building the distribution v3 registry into $tools/registry-v3" >&2
  GOBIN="$tools/registry-v3" go install github.com/distribution/distribution/v3/cmd/registry@v3.0.0
fi

"$tools/node-x64/bin/node" --version >/dev/null
"$tools/node-arm64/bin/node" -e 'if (process.arch !== "arm64") process.exit(1)'
"$tools/pnpm-10/bin/pnpm" --version >/dev/null
"$tools/yarn-4/bin/yarn" --version >/dev/null
echo "host-setup: ready (node $node_version for x64 and arm64, pnpm 9/10, yarn 1/4 in $tools)" >&2
