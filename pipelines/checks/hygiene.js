#!/usr/bin/env node
// Runtime hygiene check run inside a runtime image, as the image's default user: no compiler or
// build tool, no node-gyp cache, no devDependency in node_modules, a non-root user,
// NODE_ENV=production and (with --arch) no binary of another machine among the application's
// own files. Prints ONE JSON object on stdout listing the offenders and the sizes of the app
// and its node_modules. Exit 0 when clean, 1 otherwise, 2 on bad arguments. Node 18+; it
// requires elf.js, written beside it.
//
//   node hygiene.js --app /app --lockfile /tmp/nodepipe/package-lock.json [--root /]
//                   [--allow ffmpeg,python3] [--arch arm64]
//
// --lockfile is npm's format (lockfileVersion 2/3 `packages`, or 1); node-pipelines writes one
// of that shape for every package manager. --allow names system packages the service declared:
// a tool they own (per dpkg's file lists), or named like one of them, is not a leak.
// --root prefixes every scanned system path (bin directories, gcc's libexec, home directories);
// it is `/` in an image and a fake root in tests.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const elf = require('./elf.js');

const BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
// Compilers and build tools, also versioned (gcc-12, python3.11) and cross-prefixed
// (aarch64-linux-gnu-g++) spellings.
const BUILD_TOOL = new RegExp('^(?:[a-z0-9_]+-linux-(?:gnu|musl)[a-z]*-)?' +
  '(?:gcc|g\\+\\+|cc|c\\+\\+|clang|clang\\+\\+|make|gmake|cmake|ninja|node-gyp|python[23]?)' +
  '(?:[-.]?\\d+(?:\\.\\d+)*)?$');
// gcc's real compilers stay behind when only the gcc/cc front ends were removed from PATH.
const COMPILER_DIRS = ['/usr/lib/gcc', '/usr/libexec/gcc'];
const COMPILER_PROPER = new Set(['cc1', 'cc1plus']);

function usage(message) {
  process.stderr.write(`hygiene: ${message}\n` +
    'usage: node hygiene.js [--app DIR] [--lockfile FILE] [--root DIR] [--allow PKG,...]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const options = { app: '/app', lockfile: '', root: '/', allow: '', arch: '' };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(name in options)) usage(`unknown argument ${argv[i]}`);
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    options[name] = argv[++i];
  }
  options.app = path.resolve(options.app);
  options.lockfile = path.resolve(options.lockfile || path.join(options.app, 'package-lock.json'));
  options.allow = new Set(options.allow.split(',').map((s) => s.trim()).filter(Boolean));
  return options;
}

function list(dir, unchecked) {
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    if (error.code === 'EACCES') unchecked.push(dir);
    return [];
  }
}

function isFile(file) {
  try { return fs.statSync(file).isFile(); } catch (_) { return false; } // dangling links are no tool
}

// Which dpkg package owns each file: /var/lib/dpkg/info/<package>[:arch].list.
function dpkgOwners(root) {
  const owners = new Map();
  const info = path.join(root, '/var/lib/dpkg/info');
  for (const name of list(info, [])) {
    if (!name.endsWith('.list')) continue;
    const pkg = name.slice(0, -'.list'.length).split(':')[0];
    let text = '';
    try { text = fs.readFileSync(path.join(info, name), 'utf8'); } catch (_) { continue; }
    for (const file of text.split('\n')) if (file) owners.set(file, pkg);
  }
  return owners;
}

function declared(tool, allow, owners) {
  if (!allow.size) return false;
  const stem = path.basename(tool).replace(/[-.]?\d+(?:\.\d+)*$/, '');
  return allow.has(stem) || allow.has(owners.get(tool)) ||
    [...allow].some((pkg) => stem === pkg.replace(/[-.]?\d+(?:\.\d+)*$/, ''));
}

function buildTools(root, unchecked, allow) {
  const owners = allow.size ? dpkgOwners(root) : new Map();
  return rawBuildTools(root, unchecked).filter((tool) => !declared(tool, allow, owners));
}

function rawBuildTools(root, unchecked) {
  // node_modules/.bin holds npm packages' commands (yarn berry installs node-gyp for packages
  // it expects to build): the devDependency check judges those, not this one.
  const dirs = new Set([...(process.env.PATH || '').split(':').filter(Boolean), ...BIN_DIRS]
    .filter((dir) => !dir.split(path.sep).includes('node_modules')));
  const seen = new Set();
  const found = [];
  for (const dir of dirs) {
    const real = path.join(root, dir);
    for (const name of list(real, unchecked)) {
      const file = path.join(real, name);
      if (!BUILD_TOOL.test(name) || !isFile(file)) continue;
      const key = fs.realpathSync(file) + '\0' + name; // /bin -> /usr/bin: report once
      if (!seen.has(key)) found.push(path.join(dir, name));
      seen.add(key);
    }
  }
  for (const dir of COMPILER_DIRS) {
    for (const triplet of list(path.join(root, dir), unchecked)) {
      for (const version of list(path.join(root, dir, triplet), unchecked)) {
        for (const name of list(path.join(root, dir, triplet, version), unchecked)) {
          if (COMPILER_PROPER.has(name)) found.push(path.join(dir, triplet, version, name));
        }
      }
    }
  }
  return found;
}

function nodeGypCaches(root, unchecked) {
  const homes = new Set(['/root', process.env.HOME || '/root']);
  for (const name of list(path.join(root, '/home'), unchecked)) homes.add(path.join('/home', name));
  // node-pipelines' own build containers keep node-gyp's dev dir at /cache/node-gyp.
  const dirs = ['/cache/node-gyp'];
  for (const home of homes) {
    dirs.push(path.join(home, '.cache/node-gyp'), path.join(home, '.node-gyp'));
  }
  const found = [];
  for (const dir of dirs) {
    try {
      fs.statSync(path.join(root, dir));
      found.push(dir);
    } catch (error) {
      if (error.code === 'EACCES') unchecked.push(dir);
    }
  }
  return found;
}

// npm marks a lockfile entry "dev": true only when nothing in production needs it, so any such
// entry present in node_modules is a leak. lockfileVersion 2/3 list `packages` by path: a
// package installed under some node_modules/, a workspace or file: folder (its source, which
// ships as the project's files and is never a leak), or a link (node_modules/x -> a folder),
// which leaks when the folder it links is dev-only. Version 1 nests `dependencies`.
const installedPath = (where) => where.startsWith('node_modules/') || where.includes('/node_modules/');
const nameAt = (where) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length);

function devEntries(lock) {
  if (lock.packages) {
    const entries = [];
    for (const [where, entry] of Object.entries(lock.packages)) {
      if (!installedPath(where)) continue;
      const target = entry.link ? lock.packages[entry.resolved] || {} : entry;
      if (target.dev !== true) continue;
      entries.push({ where, version: target.version || null, name: entry.name || nameAt(where) });
    }
    return entries;
  }
  const entries = [];
  const walk = (deps, prefix) => {
    for (const [name, entry] of Object.entries(deps || {})) {
      const where = `${prefix}node_modules/${name}`;
      if (entry.dev === true) entries.push({ where, version: entry.version || null, name });
      walk(entry.dependencies, `${where}/`);
    }
  };
  walk(lock.dependencies, '');
  return entries;
}

function devDependencies(options, errors) {
  let lock;
  try {
    lock = JSON.parse(fs.readFileSync(options.lockfile, 'utf8'));
  } catch (error) {
    errors.push(`cannot read the lockfile ${options.lockfile}: ${error.message.split('\n')[0]}`);
    return [];
  }
  return devEntries(lock)
    .filter(({ where, version }) => installedVersion(path.join(options.app, where), version))
    .map(({ where, version, name }) => ({ name, path: where, version }));
}

// Whether a package is installed at `dir`, at `version` when the lockfile names one: a hoisted
// production copy of the same name at another version is not the dev-only entry.
function installedVersion(dir, version) {
  let manifest;
  try { manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')); } catch (_) {
    return false;
  }
  return !version || manifest.version === version;
}

// ELF files among the application's own files (node_modules aside: smoke.js loads its addons)
// that are not for `arch`: what a lifecycle script of the build stage compiled or downloaded
// on the engine ships to every target (a Python venv, a downloaded tool). A file whose path
// names another platform is there on purpose only beside one for the target (a generated
// Prisma client's engines for each of its binaryTargets); a venv's
// `_yaml.cpython-311-x86_64-linux-gnu.so` alone is not. At most `limit`.
function foreignBinaries(app, arch, unchecked, limit = 20) {
  const found = [];
  if (!arch) return found;
  const stack = [app];
  const ownInDir = new Map();
  const hasOwn = (dir) => {
    if (!ownInDir.has(dir)) {
      ownInDir.set(dir, list(dir, unchecked).some((name) => {
        try { return elf.check(path.join(dir, name), arch).ok; } catch (_) { return false; }
      }));
    }
    return ownInDir.get(dir);
  };
  while (stack.length && found.length < limit) {
    const current = stack.pop();
    let stat;
    try { stat = fs.lstatSync(current); } catch (_) { continue; }
    if (stat.isDirectory()) {
      if (path.basename(current) === 'node_modules') continue;
      for (const name of list(current, unchecked)) stack.push(path.join(current, name));
    } else if (stat.isFile() && stat.size >= 20) {
      let got;
      try { got = elf.check(current, arch); } catch (_) { continue; }
      const relative = path.relative(app, current);
      if (got.ok || got.got === 'not ELF' || got.got === 'missing') continue;
      if (!elf.ownPath(relative, arch) && hasOwn(path.dirname(current))) continue;
      found.push({ path: relative, got: got.got });
    }
  }
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

// Apparent size, hard links counted once, symlinks not followed.
function sizeOf(top) {
  const inodes = new Set();
  let total = 0;
  const stack = [top];
  while (stack.length) {
    const current = stack.pop();
    let stat;
    try { stat = fs.lstatSync(current); } catch (_) { continue; }
    if (stat.isDirectory()) {
      for (const name of list(current, [])) stack.push(path.join(current, name));
    } else if (!inodes.has(`${stat.dev}:${stat.ino}`)) {
      inodes.add(`${stat.dev}:${stat.ino}`);
      total += stat.size;
    }
  }
  return total;
}

function currentUser() {
  const uid = process.getuid();
  let name = null;
  try { name = os.userInfo().username; } catch (_) { /* uid without a passwd entry */ }
  return { uid, gid: process.getgid(), name };
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const unchecked = [];
  const errors = [];
  const result = {
    ok: false,
    app: options.app,
    lockfile: options.lockfile,
    user: currentUser(),
    node_env: process.env.NODE_ENV === undefined ? null : process.env.NODE_ENV,
    build_tools: buildTools(options.root, unchecked, options.allow),
    allowed: [...options.allow],
    node_gyp_caches: nodeGypCaches(options.root, unchecked),
    dev_dependencies: devDependencies(options, errors),
    foreign_binaries: foreignBinaries(options.app, options.arch, unchecked),
    sizes: { app_bytes: sizeOf(options.app), node_modules_bytes: sizeOf(path.join(options.app, 'node_modules')) },
    errors,
    unchecked: [...new Set(unchecked)],
  };
  result.ok = result.user.uid !== 0 && result.node_env === 'production' &&
    !result.build_tools.length && !result.node_gyp_caches.length &&
    !result.dev_dependencies.length && !result.foreign_binaries.length && !errors.length;
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}

main();
