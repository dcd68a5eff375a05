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
// `--optional NAME` names an optional package the audit found no binary for on this target: it
// is loaded if it can be, and otherwise reported absent (a warning, never a failure).
//
// `--program NAME` names a program the image's command runs: it must be an executable file on
// PATH (or, with a `/`, relative to the working directory). `--preload MODULE` names a module
// `node --require` loads before the service: it must resolve from the working directory.
//
// `--generated DIR/FILE` names code an install script would have generated (Prisma's client:
// its folder, and the schema.prisma copy it holds, which the stub @prisma/client ships without):
// the file must be there, and the folder must load with require().
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
const dpkg = require('./dpkg.js');

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
    '[--program NAME]... [--preload MODULE]... [--generated DIR/FILE]... [--optional NAME]... ' +
    '[--system PKG]... [--] ' +
    'PACKAGE|PATH...\n');
  process.exit(2);
}

function parseArgs(argv) {
  const options = { arch: '', libc: '', app: process.cwd(), targets: [], executables: [],
    programs: [], preloads: [], generated: [], optional: new Set(), system: [] };
  const lists = { '--exe': 'executables', '--program': 'programs', '--preload': 'preloads',
    '--generated': 'generated', '--system': 'system' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      options.targets.push(...argv.slice(i + 1));
      break;
    } else if (['--arch', '--libc', '--app', '--optional'].includes(arg) || lists[arg]) {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      const value = argv[++i];
      if (lists[arg]) options[lists[arg]].push(value);
      else if (arg === '--optional') {
        options.optional.add(value);
        options.targets.push(value);
      } else options[arg.slice(2)] = value;
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

// Binaries of other platforms are never loaded: elf.js's one rule (`ownPath`) says which are
// the target's (oracledb ships build/Release/oracledb-6.8.0-darwin-arm64.node and -win32-x64.node
// beside the linux ones). `skipped` collects the others, to say what was left alone.
function targetFiles(files, base, options, skipped) {
  const own = [];
  for (const file of files) {
    if (elf.ownPath(path.relative(base, file), options.arch, options.libc)) own.push(file);
    else if (skipped) skipped.push(file);
  }
  return own.sort();
}

// The .node files of a platform package, two levels deep at most (lib/x.node): all of them,
// since the audit named the package for this target, so a wrong one is a failure to show.
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

function compiledBindings(home, options, skipped) {
  if (!home) return [];
  const dir = path.join(home, 'build', 'Release');
  const files = list(dir).filter((f) => f.endsWith('.node')).map((f) => path.join(dir, f));
  return targetFiles(files, home, options, skipped);
}

function isPath(target) {
  return target.startsWith('.') || target.startsWith('/') || target.endsWith('.node');
}

// A directory argument stands for every addon in it, each reported on its own.
function expand(target, options) {
  const app = options.app;
  if (!isPath(target)) return [target];
  const full = path.resolve(app, target);
  let names;
  try {
    names = fs.readdirSync(full);
  } catch (_) {
    return [target]; // a file, or missing: loading it reports the error
  }
  const own = (dir) => list(path.resolve(app, dir)).filter((f) => f.endsWith('.node') &&
    elf.ownPath(f, options.arch, options.libc)).sort().map((f) => path.join(dir, f));
  let addons = own(target);
  // An addon's source directory (where binding.gyp is, as the audit names it): node-gyp's output.
  if (!addons.length) addons = own(path.join(target, 'build', 'Release'));
  return addons.length ? addons : [target];
}

// Load one package and return its directory, and the binaries of other platforms it left alone
// when it loaded nothing on require(). A lockfile location: node_modules/x is the package
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
  const skipped = [];
  if (loaded.length === start) {
    for (const file of compiledBindings(home, options, skipped)) appRequire(file);
  }
  return { home, skipped };
}

// What a package that loaded no binary is: plain JavaScript, or a package whose native part is
// optional and lazy (a database driver's thick mode) that ships only other platforms' binaries.
function noBinding(skipped, options) {
  if (!skipped.length) return 'no native binding was loaded by require()';
  const names = skipped.map((f) => path.basename(f)).join(', ');
  return `no native binding was loaded by require(): its binary is optional or loaded lazily, ` +
    `and it ships none for linux/${options.arch} in build/Release (left alone: ${names})`;
}

function load(target, options, appRequire, loaded) {
  const start = loaded.length;
  const result = { name: target, ok: true, error: null, addons: [], warning: null };
  let home = null;
  let skipped = [];
  try {
    if (isPath(target)) {
      const file = path.resolve(options.app, target);
      if (fs.statSync(file).isDirectory()) throw new Error(`no .node file in ${file}`);
      appRequire(file);
    } else {
      ({ home, skipped } = loadPackage(target, options, appRequire, loaded));
    }
  } catch (error) {
    result.ok = false;
    result.error = explain(error, options.arch, loaded.slice(start));
  }
  result.addons = loaded.slice(start);
  if (!result.ok && options.optional.has(target)) {
    // Optional and without a binary here: the service runs without it, as npm installs it.
    result.ok = true;
    result.optional = true;
    result.warning = `optional and absent on this target, the service runs without it ` +
      `(${result.error})`;
    result.error = null;
  }
  if (result.ok && home && !result.addons.length) {
    // Already loaded by an earlier package (sharp loads its platform package): still its binary.
    result.addons = loaded.filter((file) => file.startsWith(home + path.sep));
    if (!result.addons.length) result.warning = noBinding(skipped, options);
  }
  return result;
}

function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch (_) {
    return false;
  }
}

// Where the image's command finds a program: PATH as the container has it, like execvp.
function checkProgram(name) {
  const dirs = name.includes('/') ? [''] : (process.env.PATH || '').split(':').filter(Boolean);
  const found = dirs.map((dir) => path.resolve(dir, name)).find(executable) || null;
  return { name, path: found, ok: found !== null,
    error: found ? null : (name.includes('/') ? 'not an executable file' : 'not on PATH') };
}

function checkPreload(name) {
  try {
    const resolved = createRequire(path.join(process.cwd(), 'noop.js')).resolve(name);
    return { name, path: resolved, ok: true, error: null };
  } catch (error) {
    return { name, path: null, ok: false, error: String(error.message).split('\n')[0] };
  }
}

function checkGenerated(spec, options, appRequire) {
  const name = path.posix.dirname(spec);
  const folder = path.resolve(options.app, name);
  if (!fs.existsSync(path.resolve(options.app, spec))) {
    return { name, path: null, ok: false,
      error: `${path.posix.basename(spec)} is not in ${name}: the code was not generated` };
  }
  try {
    appRequire(folder);
    return { name, path: folder, ok: true, error: null };
  } catch (error) {
    return { name, path: null, ok: false, error: String(error.message).split('\n')[0] };
  }
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
  const targets = options.targets.flatMap((target) => expand(target, options));
  const packages = targets.map((target) => {
    // If an addon kills the process, the last line on stderr names the culprit.
    process.stderr.write(`smoke: loading ${target}\n`);
    return load(target, options, appRequire, loaded);
  });
  const executables = options.executables.map((glob) => elf.executable(glob, options.app, options.arch));
  const programs = [...options.programs.map(checkProgram), ...options.preloads.map(checkPreload)];
  const generated = options.generated.map((spec) => checkGenerated(spec, options, appRequire));
  const system = options.system.map((name) => dpkg.checkSystemPackage(name, options));
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
    programs,
    generated,
    system,
  };
  result.ok = result.arch === result.expected_arch && libc === options.libc &&
    packages.every((p) => p.ok) && executables.every((e) => e.ok) && programs.every((p) => p.ok) &&
    generated.every((g) => g.ok) && system.every((s) => s.ok);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}

main();
