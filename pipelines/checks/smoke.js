#!/usr/bin/env node
// Smoke check run inside a runtime image: load every production native package (and the
// service's own addons), check process.arch and the C library against the target, and print ONE
// JSON object on stdout. Exit 0 when everything loaded, 1 otherwise, 2 on bad arguments.
// Node 18+ and no dependencies: it runs on whatever Node the runtime image ships.
//
//   node smoke.js --arch arm64 --libc glibc --app /app [--exe GLOB]... [--system PKG]... -- bcrypt ./native/build/Release
//
// `--exe node_modules/@prisma/engines/schema-engine-*` names an executable an install script
// downloaded (relative to --app; `*` only in the last part): at least one file must match, and
// each must be an ELF file for the target's machine (read by elf.js, shipped next to this file).
//
// `--system jq` names a system package the service declared (Debian images): dpkg must list
// it as installed, and each program it ships in a bin directory must be for the target's
// machine, with every shared library it links found by the target's own loader (asked as ldd
// does, LD_TRACE_LOADED_OBJECTS: the loader maps them all and exits before the program runs).
//
// Arguments starting with `.` or `/`, or ending in `.node`, are addon files or directories of
// them (relative to --app; a directory loads every `.node` file in it, or else in its
// build/Release). Arguments starting with `node_modules/` are lockfile locations of packages, as
// the audit reports them. The rest are package names, resolved from the app directory like the
// service itself resolves them.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const { spawnSync } = require('child_process');
const elf = require('./elf.js');

// Docker/uname spellings the caller may pass, mapped to Node's process.arch.
const ARCH_ALIASES = { amd64: 'x64', x86_64: 'x64', aarch64: 'arm64', arm64: 'arm64', x64: 'x64' };
const NOT_ELF = 'not ELF';
const NESTED = 'node_modules/';
const TOP_LEVEL = /^node_modules\/(@[^/]+\/)?[^/]+$/;
// Packages that load their binding lazily, on first use rather than on require(): without this
// a wrong-architecture better-sqlite3 binary loads "fine" here and fails in production.
const ACTIVATORS = {
  'better-sqlite3': (mod) => new mod(':memory:').close(),
};

function usage(message) {
  process.stderr.write(`smoke: ${message}\n` +
    'usage: node smoke.js --arch ARCH --libc glibc|musl [--app DIR] [--exe GLOB]... ' +
    '[--system PKG]... [--] ' +
    'PACKAGE|PATH...\n');
  process.exit(2);
}

function parseArgs(argv) {
  const options = { arch: '', libc: '', app: process.cwd(), targets: [], executables: [],
    system: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      options.targets.push(...argv.slice(i + 1));
      break;
    } else if (['--arch', '--libc', '--app', '--exe', '--system'].includes(arg)) {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      if (arg === '--exe') options.executables.push(argv[++i]);
      else if (arg === '--system') options.system.push(argv[++i]);
      else options[arg.slice(2)] = argv[++i];
    } else if (arg.startsWith('--')) {
      usage(`unknown option ${arg}`);
    } else {
      options.targets.push(arg);
    }
  }
  if (!options.arch) usage('--arch is required');
  if (options.libc !== 'glibc' && options.libc !== 'musl') usage('--libc must be glibc or musl');
  options.arch = ARCH_ALIASES[options.arch] || options.arch;
  options.app = path.resolve(options.app);
  return options;
}

// glibc reports its version in the diagnostic report header; musl reports nothing there, so
// the loader mapped into this process tells the two apart.
function runtimeLibc() {
  const report = process.report;
  if ('excludeNetwork' in report) report.excludeNetwork = true; // Node 20+: skip slow DNS work
  const header = report.getReport().header;
  if (header.glibcVersionRuntime) return { libc: 'glibc', version: header.glibcVersionRuntime };
  let maps = '';
  try { maps = fs.readFileSync('/proc/self/maps', 'latin1'); } catch (_) { /* not Linux */ }
  return { libc: /ld-musl-/.test(maps) ? 'musl' : 'unknown', version: null };
}

function elfArch(file) {
  try {
    const found = elf.header(file);
    if (!found) return NOT_ELF;
    return elf.NAMES[found.machine] || `ELF machine ${found.machine}`;
  } catch (_) {
    return null;
  }
}

// The files a `--exe` glob names: `*` matches within the last path part only.
function matching(glob, app) {
  const full = path.resolve(app, glob);
  const dir = path.dirname(full);
  const escaped = path.basename(full).replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^${escaped.replace(/\*/g, '.*')}$`);
  return list(dir).filter((name) => pattern.test(name)).sort().map((name) => path.join(dir, name));
}

// A downloaded executable: there, and an ELF file for the target's machine.
function checkExecutable(glob, options) {
  const files = matching(glob, options.app).map((file) => ({ path: file, ...elf.check(file, options.arch) }));
  const result = { pattern: glob, ok: files.length > 0 && files.every((f) => f.ok), files, error: null };
  const wrong = files.filter((f) => !f.ok);
  if (!files.length) {
    result.error = `no file matches ${glob} in ${options.app}: the install script did not download it`;
  } else if (wrong.length) {
    result.error = wrong.map((f) => `${f.path} is ${f.got}, not ${options.arch}`).join('; ');
  }
  return result;
}

const DPKG = '/var/lib/dpkg';
const BIN_DIRS = new Set(['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']);

// dpkg's record of one package: its status line and version, or null when it has none.
function dpkgRecord(name) {
  let text = '';
  try { text = fs.readFileSync(`${DPKG}/status`, 'utf8'); } catch (_) { return null; }
  const paragraph = text.split(/\n\n+/).find((p) => p.startsWith(`Package: ${name}\n`));
  if (!paragraph) return null;
  const field = (key) => ((paragraph.match(new RegExp(`^${key}: (.*)$`, 'm')) || [])[1] || '');
  return { status: field('Status'), version: field('Version') };
}

// The programs a package put in a bin directory, from dpkg's list of its files.
function programsOf(name) {
  const lists = list(`${DPKG}/info`).filter((f) => f === `${name}.list` ||
    (f.startsWith(`${name}:`) && f.endsWith('.list')));
  const files = lists.flatMap((f) => fs.readFileSync(`${DPKG}/info/${f}`, 'utf8').split('\n'));
  return files.filter((file) => BIN_DIRS.has(path.dirname(file)) && isProgram(file)).sort();
}

function isProgram(file) {
  try {
    const stat = fs.statSync(file);
    return stat.isFile() && (stat.mode & 0o111) !== 0;
  } catch (_) {
    return false;
  }
}

// Whether an ELF file asks for a loader (PT_INTERP): only those are asked for their libraries,
// since a static program would run instead.
function dynamic(file) {
  const buffer = fs.readFileSync(file);
  const wide = buffer[4] === 2;
  const big = buffer[5] === 2;
  const int = (at, size) => (size === 2 ? (big ? buffer.readUInt16BE(at) : buffer.readUInt16LE(at))
    : size === 4 ? (big ? buffer.readUInt32BE(at) : buffer.readUInt32LE(at))
      : Number(big ? buffer.readBigUInt64BE(at) : buffer.readBigUInt64LE(at)));
  const [offset, size, count] = wide ? [int(0x20, 8), int(0x36, 2), int(0x38, 2)]
    : [int(0x1c, 4), int(0x2a, 2), int(0x2c, 2)];
  for (let i = 0; i < count; i++) if (int(offset + i * size, 4) === 3) return true;
  return false;
}

// One program: for the target's machine, and every library it links found on the target.
function checkProgram(file, options) {
  const { ok, got } = elf.check(file, options.arch);
  if (got === NOT_ELF) return { path: file, got, ok: true, error: null };
  if (!ok) return { path: file, got, ok, error: `${file} is ${got}, not ${options.arch}` };
  if (!dynamic(file)) return { path: file, got, ok, error: null };
  const traced = spawnSync(file, [], { encoding: 'utf8', timeout: 30000,
    env: { ...process.env, LD_TRACE_LOADED_OBJECTS: '1' } });
  const missing = (traced.stdout || '').split('\n').filter((l) => /=> not found/.test(l))
    .map((l) => l.trim().split(' ')[0]);
  if (missing.length) return { path: file, got, ok: false, error: `${file} links ${missing.join(', ')}, which the loader does not find` };
  if (traced.status !== 0) {
    return { path: file, got, ok: false, error: `the loader could not map ${file}: ${firstLine(traced.error || traced.stderr)}` };
  }
  return { path: file, got, ok, error: null };
}

function checkSystemPackage(name, options) {
  const record = dpkgRecord(name);
  const result = { name, version: record ? record.version : null, programs: [], ok: false, error: null };
  if (!record || record.status !== 'install ok installed') {
    result.error = record ? `dpkg says ${record.status}, not installed` : 'dpkg does not list it';
    return result;
  }
  result.programs = programsOf(name).map((file) => checkProgram(file, options));
  const wrong = result.programs.filter((p) => !p.ok);
  result.ok = !wrong.length;
  result.error = wrong.length ? wrong.map((p) => p.error).join('; ') : null;
  return result;
}

function firstLine(error) {
  const text = error && error.message ? error.message : String(error);
  return text.split('\n')[0];
}

// A load error names the file; when that file is built for another CPU, say so plainly.
function explain(error, arch, loaded) {
  const message = firstLine(error);
  const file = (message.match(/(\/[^\s:]+\.node)/) || [])[1] || loaded[loaded.length - 1];
  const built = file ? elfArch(file) : null;
  if (!built || built === arch) return message;
  const detail = message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
  if (built === NOT_ELF) return `${file} is not an ELF shared object (dlopen said: ${detail})`;
  return `${file} is built for ${built}, not ${arch} (dlopen said: ${detail})`;
}

// Compiled bindings (node-gyp's build/Release) are loaded by their package's own loader first;
// load them directly when the package loaded nothing on require().
// Found through the lookup paths, not require.resolve('x/package.json'), which a package's
// "exports" may forbid.
function packageHome(appRequire, target) {
  return (appRequire.resolve.paths(target) || [])
    .map((dir) => path.join(dir, target))
    .find((dir) => fs.existsSync(path.join(dir, 'package.json')));
}

function list(dir) {
  try {
    return fs.readdirSync(dir);
  } catch (_) {
    return [];
  }
}

// The .node files of a package, two levels deep at most (lib/x.node, build/Release/x.node).
function binariesIn(home) {
  const found = [];
  const walk = (dir, depth) => {
    for (const entry of list(dir)) {
      const full = path.join(dir, entry);
      if (entry.endsWith('.node')) {
        found.push(full);
      } else if (depth < 2 && entry !== 'node_modules' && fs.statSync(full).isDirectory()) {
        walk(full, depth + 1);
      }
    }
  };
  walk(home, 0);
  return found.sort();
}

function compiledBindings(home) {
  if (!home) return [];
  const dir = path.join(home, 'build', 'Release');
  return list(dir).filter((f) => f.endsWith('.node')).map((f) => path.join(dir, f));
}

function isPath(target) {
  return target.startsWith('.') || target.startsWith('/') || target.endsWith('.node');
}

// A directory argument stands for every addon in it, each reported on its own.
function expand(target, app) {
  if (!isPath(target)) return [target];
  const full = path.resolve(app, target);
  let names;
  try {
    names = fs.readdirSync(full);
  } catch (_) {
    return [target]; // a file, or missing: loading it reports the error
  }
  let addons = names.filter((f) => f.endsWith('.node')).sort().map((f) => path.join(target, f));
  if (!addons.length) {
    // An addon's source directory (where binding.gyp is, as the audit names it): node-gyp's output.
    const release = path.join(target, 'build', 'Release');
    addons = list(path.resolve(app, release)).filter((f) => f.endsWith('.node')).sort()
      .map((f) => path.join(release, f));
  }
  return addons.length ? addons : [target];
}

// Load one package and return its directory. A lockfile location: node_modules/x is the package
// x as the app resolves it (exports included); node_modules/a/node_modules/b is a copy the app
// dir may not resolve to, so that copy is loaded by its directory.
function loadPackage(target, options, appRequire, loaded) {
  const start = loaded.length;
  const request = TOP_LEVEL.test(target) ? target.slice(NESTED.length) : target;
  const nested = request.startsWith(NESTED);
  const name = nested ? request.slice(request.lastIndexOf(NESTED) + NESTED.length) : request;
  const home = nested ? path.resolve(options.app, request) : packageHome(appRequire, request);
  let mod;
  try {
    mod = appRequire(nested ? home : request);
  } catch (error) {
    // Platform packages (@img/sharp-linux-arm64) export their binary and no main entry.
    const files = error.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' && home ? binariesIn(home) : [];
    if (!files.length) throw error;
    for (const file of files) appRequire(file);
  }
  if (mod !== undefined && ACTIVATORS[name]) ACTIVATORS[name](mod);
  if (loaded.length === start) {
    for (const file of compiledBindings(home)) appRequire(file);
  }
  return home;
}

function load(target, options, appRequire, loaded) {
  const start = loaded.length;
  const result = { name: target, ok: true, error: null, addons: [], warning: null };
  let home = null;
  try {
    if (isPath(target)) {
      const file = path.resolve(options.app, target);
      if (fs.statSync(file).isDirectory()) throw new Error(`no .node file in ${file}`);
      appRequire(file);
    } else {
      home = loadPackage(target, options, appRequire, loaded);
    }
  } catch (error) {
    result.ok = false;
    result.error = explain(error, options.arch, loaded.slice(start));
  }
  result.addons = loaded.slice(start);
  if (result.ok && home && !result.addons.length) {
    // Already loaded by an earlier package (sharp loads its platform package): still its binary.
    result.addons = loaded.filter((file) => file.startsWith(home + path.sep));
    if (!result.addons.length) result.warning = 'no native binding was loaded by require()';
  }
  return result;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const { libc, version } = runtimeLibc();
  // Record every addon file actually dlopen()ed, to report which binary each package used.
  const loaded = [];
  const dlopen = process.dlopen;
  process.dlopen = function recordingDlopen(module, filename, ...rest) {
    loaded.push(filename);
    return dlopen.call(this, module, filename, ...rest);
  };
  const appRequire = createRequire(path.join(options.app, 'package.json'));
  const targets = options.targets.flatMap((target) => expand(target, options.app));
  const packages = targets.map((target) => {
    // If an addon kills the process, the last line on stderr names the culprit.
    process.stderr.write(`smoke: loading ${target}\n`);
    return load(target, options, appRequire, loaded);
  });
  const executables = options.executables.map((glob) => checkExecutable(glob, options));
  const system = options.system.map((name) => checkSystemPackage(name, options));
  const result = {
    ok: false,
    arch: process.arch,
    expected_arch: options.arch,
    libc,
    expected_libc: options.libc,
    glibc_version: version,
    node_version: process.version,
    app: options.app,
    packages,
    executables,
    system,
  };
  result.ok = result.arch === result.expected_arch && libc === options.libc &&
    packages.every((p) => p.ok) && executables.every((e) => e.ok) && system.every((s) => s.ok);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}

main();
