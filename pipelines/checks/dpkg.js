#!/usr/bin/env node
'use strict';
// Declared Debian packages in the image, for smoke.js's `--system PKG`: dpkg lists each as
// installed, and every program it ships is for the target's machine with every library it
// links found by the target's loader (asked as ldd asks it), and runs once with --version.

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const elf = require('./elf.js');

function list(dir) {
  try {
    return fs.readdirSync(dir);
  } catch (_) {
    return [];
  }
}

function firstLine(error) {
  const text = error && error.message ? error.message : String(error);
  return text.split('\n')[0];
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
function checkSystemProgram(file, options) {
  const { ok, got } = elf.check(file, options.arch);
  if (got === 'not ELF') return { path: file, got, ok: true, error: null };
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
  return { path: file, got, ...run(file) };
}

// The program run once, as a user would first try it: `--version`, else `-version` (ffmpeg's
// spelling). Any exit code counts (a program may know neither flag) and so does no answer in
// 10 s (it may wait for input); a signal (SIGILL, SIGSEGV) or the loader's failure does not.
const RUN_TIMEOUT_MS = 10000;
function run(file) {
  let done;
  let flag;
  for (flag of ['--version', '-version']) {
    done = spawnSync(file, [flag], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS,
      stdio: ['ignore', 'pipe', 'pipe'] });
    if (done.error && done.error.code === 'ETIMEDOUT') return { ok: true, ran: `${flag}: no answer in 10 s`, error: null };
    if (done.status === 0 || done.signal) break;
  }
  if (done.signal) {
    return { ok: false, ran: `${flag}: ${done.signal}`, error: `${file} ${flag} was killed by ${done.signal}` };
  }
  if (/error while loading shared libraries/.test(done.stderr || '') || done.status === 127) {
    return { ok: false, ran: `${flag}: exit ${done.status}`, error: `${file} ${flag}: ${firstLine(done.stderr)}` };
  }
  return { ok: true, ran: `${flag}: exit ${done.status}`, error: null };
}

function checkSystemPackage(name, options) {
  const record = dpkgRecord(name);
  const result = { name, version: record ? record.version : null, programs: [], ok: false, error: null };
  if (!record || record.status !== 'install ok installed') {
    result.error = record ? `dpkg says ${record.status}, not installed` : 'dpkg does not list it';
    return result;
  }
  result.programs = programsOf(name).map((file) => checkSystemProgram(file, options));
  const wrong = result.programs.filter((p) => !p.ok);
  result.ok = !wrong.length;
  result.error = wrong.length ? wrong.map((p) => p.error).join('; ') : null;
  return result;
}

module.exports = { checkSystemPackage, run };
