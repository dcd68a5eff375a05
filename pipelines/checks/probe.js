#!/usr/bin/env node
// Health probe run from a second container bound to the service: poll URL until it answers with
// a 2xx status, or (with a tcp:// URL) until the port accepts a connection, or the wait runs
// out. Prints ONE JSON object on stdout; exit 0 when healthy, 1 otherwise, 2 on bad arguments.
// Node 18+ and no dependencies (plain http and net).
//
//   node probe.js --url http://app:3000/healthz --timeout 30
//   node probe.js --url tcp://app:3000 --timeout 30
'use strict';

const http = require('http');
const net = require('net');

const INTERVAL_MS = 500;
const REQUEST_TIMEOUT_MS = 2000;

function usage(message) {
  process.stderr.write(`probe: ${message}\nusage: node probe.js --url URL [--timeout SECONDS]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { url: '', timeout: '30' };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(name in options)) usage(`unknown argument ${argv[i]}`);
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    options[name] = argv[i + 1];
  }
  const timeout = Number(options.timeout);
  if (!/^(http|tcp):\/\//.test(options.url)) usage('--url must be an http:// or tcp:// URL');
  if (!(timeout > 0)) usage('--timeout must be a positive number of seconds');
  return { url: options.url, timeoutMs: timeout * 1000 };
}

function connect(url) {
  const { hostname, port } = new URL(url.replace(/^tcp:/, 'http:'));
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    socket.on('connect', () => { socket.end(); resolve({ status: 'connected', body: null, error: null }); });
    socket.on('error', (error) => resolve({ status: null, body: null, error: error.code || error.message }));
  });
}

function attempt(url) {
  if (url.startsWith('tcp://')) return connect(url);
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: REQUEST_TIMEOUT_MS }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { if (body.length < 1000) body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, body: body.slice(0, 1000), error: null }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', (error) => resolve({ status: null, body: null, error: error.code || error.message }));
  });
}

async function main() {
  const { url, timeoutMs } = parseArgs(process.argv.slice(2));
  const started = Date.now();
  let attempts = 0;
  let last;
  for (;;) {
    attempts += 1;
    last = await attempt(url);
    const healthy = last.status === 'connected' ||
      (typeof last.status === 'number' && last.status >= 200 && last.status < 300);
    const elapsed = Date.now() - started;
    // A non-2xx answer may come from a service still warming up: keep polling until the bound.
    if (healthy || elapsed + INTERVAL_MS >= timeoutMs) {
      const result = { ok: healthy, url, status: last.status, body: last.body, error: last.error,
        attempts, elapsed_s: Math.round(elapsed / 100) / 10, timeout_s: timeoutMs / 1000 };
      process.stdout.write(JSON.stringify(result) + '\n');
      process.exitCode = healthy ? 0 : 1;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
}

main();
