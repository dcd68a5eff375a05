#!/usr/bin/env node
// Cross-build guard, run in the build container right after a cross compile: every `.node`
// under the given directories must be an ELF shared object for the target's machine and class.
// Prints ONE JSON object on stdout; on a wrong binary also one sentence per file on stderr.
// Exit 0 when every binary matches, 1 otherwise, 2 on bad arguments. Node 18+, no dependencies.
//
//   node elf.js --arch arm64 DIR...
//
// smoke.js requires this file for the same reading of ELF headers (`check(file, arch)`, and
// `executable(glob, app, arch)` for its --exe), so the two never disagree about what a binary
// is built for.
'use strict';

const fs = require('fs');
const path = require('path');

// e_machine (elf.h) and ELF class (1: 32-bit, 2: 64-bit) of each Node architecture.
const TARGETS = {
  x64: { machine: 62, bits: 64 }, arm64: { machine: 183, bits: 64 }, arm: { machine: 40, bits: 32 },
  ia32: { machine: 3, bits: 32 }, ppc64: { machine: 21, bits: 64 }, s390x: { machine: 22, bits: 64 },
  riscv64: { machine: 243, bits: 64 }, mips: { machine: 8, bits: 32 }, ppc: { machine: 20, bits: 32 },
};
const NAMES = Object.fromEntries(Object.entries(TARGETS).map(([arch, t]) => [t.machine, arch]));

function usage(message) {
  process.stderr.write(`elf: ${message}\nusage: node elf.js --arch ARCH DIR...\n`);
  process.exit(2);
}

function header(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(20);
    if (fs.readSync(fd, buffer, 0, 20, 0) < 20 || buffer.readUInt32BE(0) !== 0x7f454c46) return null;
    const machine = buffer[5] === 2 ? buffer.readUInt16BE(18) : buffer.readUInt16LE(18);
    return { machine, bits: buffer[4] === 2 ? 64 : 32 };
  } finally {
    fs.closeSync(fd);
  }
}

// Packages ship binaries for other platforms on purpose: node-pty's prebuilds/darwin-x64/,
// better-sqlite3's prebuilds/darwin-arm64.node, oracledb's build/Release/oracledb-6.8.0-win32-x64.node,
// aws-crt's dist/bin/darwin-x64-cruntime/. ONE rule says which are the target's, for this guard,
// for smoke.js (which requires this file) and for the audit (pipelines/packagers/lockfiles/
// platform_names.py has the same words; tests/components/test_target_rule.py runs both on one table):
// a file is another platform's when a part of its path names another os, another cpu or (when
// the libc is given) another C library; under prebuilds/ a directory must also name linux and
// the target's cpu.
const OSES = { linux: ['linux', null], linuxmusl: ['linux', 'musl'], alpine: ['linux', 'musl'],
  linuxglibc: ['linux', 'glibc'], darwin: ['darwin', null], macos: ['darwin', null],
  win32: ['win32', null], windows: ['win32', null], freebsd: ['freebsd', null],
  android: ['android', null], openbsd: ['openbsd', null], netbsd: ['netbsd', null],
  sunos: ['sunos', null], aix: ['aix', null], openharmony: ['openharmony', null] };
const CPUS = { x64: 'x64', amd64: 'x64', x86_64: 'x64', arm64: 'arm64', aarch64: 'arm64',
  arm: 'arm', armv7: 'arm', armhf: 'arm', ia32: 'ia32', x86: 'ia32', ppc64: 'ppc64',
  ppc64le: 'ppc64', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64',
  mips64el: 'mips64el', wasm32: 'wasm32' };
const LIBCS = { gnu: 'glibc', glibc: 'glibc', gnueabihf: 'glibc', musl: 'musl', musleabihf: 'musl' };

function tokens(name) {
  return name.toLowerCase().replace(/x86_64/g, 'x64').split(/[/._+@-]/);
}

// True when `name` (a file or directory name, or a relative path) names a platform other than
// linux on `arch` (and `libc`, when given).
function foreign(name, arch, libc) {
  return tokens(name).some((t) => {
    const os = OSES[t];
    if (os) return os[0] !== 'linux' || (!!libc && !!os[1] && os[1] !== libc);
    if (t in CPUS) return CPUS[t] !== arch;
    return !!libc && t in LIBCS && LIBCS[t] !== libc;
  });
}

function forTarget(name, arch, libc) {
  const words = tokens(name);
  return words.some((t) => OSES[t] && OSES[t][0] === 'linux') &&
    words.some((t) => CPUS[t] === arch) && !foreign(name, arch, libc);
}

// Every `.node` under `dir` that is the target's, by the rule above.
function* addons(dir, arch, libc) {
  let entries;
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch (_) { return; }
  const prebuilds = path.basename(dir) === 'prebuilds';
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (prebuilds ? forTarget(entry.name, arch, libc) : !foreign(entry.name, arch, libc)) {
        yield* addons(full, arch, libc);
      }
    } else if (entry.isFile() && entry.name.endsWith('.node') && !foreign(entry.name, arch, libc)) {
      yield full;
    }
  }
}

// A path below `root` is the target's when no part of it (the part under prebuilds/ included)
// is another platform's.
function ownPath(relative, arch, libc) {
  const parts = relative.split(/[\\/]/).filter(Boolean);
  return parts.every((part, i) => (i > 0 && parts[i - 1] === 'prebuilds' && i < parts.length - 1
    ? forTarget(part, arch, libc) : !foreign(part, arch, libc)));
}

// What `file` is built for against what `arch` wants: { ok, got }. `got` is `arm64 64-bit`,
// `not ELF`, or `missing` when the file cannot be read.
function check(file, arch) {
  const wanted = TARGETS[arch];
  let found;
  try { found = header(file); } catch (_) { return { ok: false, got: 'missing' }; }
  const ok = !!found && !!wanted && found.machine === wanted.machine && found.bits === wanted.bits;
  const got = found ? `${NAMES[found.machine] || `machine ${found.machine}`} ${found.bits}-bit` : 'not ELF';
  return { ok, got };
}

// The files a `--exe` glob names (relative to `app`): `*` matches within the last part only.
function matching(glob, app) {
  const full = path.resolve(app, glob);
  const dir = path.dirname(full);
  const escaped = path.basename(full).replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^${escaped.replace(/\*/g, '.*')}$`);
  let names = [];
  try { names = fs.readdirSync(dir); } catch (_) { /* no such directory: nothing matches */ }
  return names.filter((name) => pattern.test(name)).sort().map((name) => path.join(dir, name));
}

// An executable an install script downloaded (smoke.js --exe): there, and an ELF file for
// the target's machine.
function executable(glob, app, arch) {
  const files = matching(glob, app).map((file) => ({ path: file, ...check(file, arch) }));
  const result = { pattern: glob, ok: files.length > 0 && files.every((f) => f.ok), files, error: null };
  const wrong = files.filter((f) => !f.ok);
  if (!files.length) {
    result.error = `no file matches ${glob} in ${app}: the install script did not download it`;
  } else if (wrong.length) {
    result.error = wrong.map((f) => `${f.path} is ${f.got}, not ${arch}`).join('; ');
  }
  return result;
}

function main() {
  const argv = process.argv.slice(2);
  if (argv[0] !== '--arch' || !argv[1]) usage('--arch is required');
  const arch = argv[1];
  const wanted = TARGETS[arch];
  if (!wanted) usage(`unknown arch ${arch}`);
  const files = [];
  for (const dir of argv.slice(2)) {
    for (const file of addons(dir, arch)) {
      const { ok, got } = check(file, arch);
      files.push({ path: file, ok, got });
      if (!ok) process.stderr.write(`${file} is ${got}, wanted ${arch} ${wanted.bits}-bit: the cross build produced a binary for the wrong machine\n`);
    }
  }
  const ok = files.every((f) => f.ok);
  process.stdout.write(JSON.stringify({ ok, arch, files }) + '\n');
  process.exitCode = ok ? 0 : 1;
}

module.exports = {
  TARGETS, NAMES, OSES, CPUS, LIBCS, header, check, foreign, ownPath, addons, executable,
};

if (require.main === module) main();
