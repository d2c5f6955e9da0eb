#!/usr/bin/env node
// bench/cpu-split.mjs: CPU cost per request of `tapwire record` (reverse, recording on), split by
// thread, for A/B comparisons on a shared, noisy machine. req/s swings 2x there when other jobs
// run; CPU seconds per 1000 requests (and which thread spends them) barely moves, so that is what
// this measures. Variants are alternated A B A B …, each round on a fresh tapwire process, and
// medians are reported.
//
//   node bench/cpu-split.mjs --variant base='node /tmp/base/bin/tapwire.js' \
//     --variant new='node bench/run-dist.mjs /tmp/new/dist' [--rounds 5] [--dur 8] [--conns 50] [--nginx]
//
// Threads: `main` is the proxy thread (tid = pid); the capture worker, libuv's pool (gzip, fs) and
// V8's helpers (GC) are grouped as `other`, and the single busiest of them is shown (the worker).
// Needs nginx and wrk; run as root (nginx serves a mktemp folder with `user root;`).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '5' },
    dur: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    conns: { type: 'string', default: '50' },
    nginx: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
const variants = values.variant.map((v) => {
  const eq = v.indexOf('=');
  return { name: v.slice(0, eq), cmd: v.slice(eq + 1) };
});
if (variants.length === 0 && !values.nginx) {
  console.error("usage: cpu-split.mjs --variant NAME='CMD' [--variant …] [--nginx] [--rounds N] [--dur S]");
  process.exit(2);
}
const ROUNDS = Number(values.rounds);
const DUR = Number(values.dur);
const CONNS = Number(values.conns);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString());
const T = mkdtempSync(path.join(tmpdir(), 'tw-cpu-'));
const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(cmd, args, log, env = process.env) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  const out = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => out.push(d));
  child.on('exit', () => writeFileSync(log, Buffer.concat(out)));
  children.push(child);
  return child;
}

async function waitHttp(url, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return true;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  return false;
}

/** Per-thread utime+stime in seconds: Map tid -> s. */
function threadCpu(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, (Number(f[11]) + Number(f[12])) / CLK_TCK);
      out.set(`${tid}:sys`, Number(f[12]) / CLK_TCK);
    } catch {
      // thread ended
    }
  }
  return out;
}

function statusKb(pid, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function wrk(url, seconds) {
  const out = execFileSync('wrk', ['-t1', `-c${CONNS}`, `-d${seconds}s`, url], { encoding: 'utf8' });
  const reqs = Number(/(\d+) requests in/.exec(out)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const bad = /Non-2xx|Socket errors/.test(out);
  return { reqs, rps, bad };
}

function nginxConf(dir, body) {
  mkdirSync(dir, { recursive: true });
  const conf = `daemon off; user root; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http { access_log off; default_type application/octet-stream; keepalive_requests 1000000; keepalive_timeout 75s;
client_body_temp_path ${dir}/cb; proxy_temp_path ${dir}/px; fastcgi_temp_path ${dir}/fc; uwsgi_temp_path ${dir}/uw; scgi_temp_path ${dir}/sc;
${body} }`;
  writeFileSync(`${dir}/nginx.conf`, conf);
  return start('nginx', ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], `${dir}/out.log`);
}

function descendantsOf(pid) {
  // The measured pid is the deepest node process (a wrapper such as npx is skipped).
  let cur = pid;
  for (;;) {
    let kids = [];
    try {
      kids = readFileSync(`/proc/${cur}/task/${cur}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return cur;
    }
    if (kids.length === 0) return cur;
    cur = Number(kids[0]);
  }
}

async function stop(child, signal = 'SIGTERM', ms = 15000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(-child.pid, signal);
  } catch {
    return;
  }
  if ((await Promise.race([exited.then(() => true), sleep(ms).then(() => false)])) === false) {
    process.kill(-child.pid, 'SIGKILL');
    await exited;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function measureTapwire(v, round, backendPort) {
  const port = await freePort();
  const admin = await freePort();
  const store = path.join(T, `store-${v.name}-${round}`);
  const [cmd, ...args] = v.cmd.split(' ');
  const env = { ...process.env };
  // --cpu-prof is not allowed in NODE_OPTIONS: it goes right after `node` (a worker gets its own file).
  if (values['cpu-prof']) args.unshift('--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}/${v.name}-${round}`);
  const child = start(
    cmd,
    [
      ...args,
      'record',
      '--proxy-type',
      'reverse',
      '--app',
      `127.0.0.1:${backendPort}`,
      '--in-port',
      String(port),
      '--out-port',
      '0',
      '--admin-port',
      String(admin),
      '--store',
      store,
      '--log-level',
      'warn',
    ],
    path.join(T, `tw-${v.name}-${round}.log`),
    env,
  );
  if (!(await waitHttp(`http://127.0.0.1:${admin}/readyz`, 20000))) {
    await stop(child);
    throw new Error(`${v.name}: tapwire did not become ready (log: ${T}/tw-${v.name}-${round}.log)`);
  }
  const pid = descendantsOf(child.pid);
  await sleep(500);
  const idleKb = statusKb(pid, 'VmRSS');
  const url = `http://127.0.0.1:${port}/1k.bin`;
  if (Number(values.warmup) > 0) wrk(url, Number(values.warmup));
  const c0 = threadCpu(pid);
  const w = wrk(url, DUR);
  const c1 = threadCpu(pid);
  // Let the worker catch up on what is queued: its backlog is part of the cost.
  await sleep(1500);
  const c2 = threadCpu(pid);
  const hwmKb = statusKb(pid, 'VmHWM');
  const rssKb = statusKb(pid, 'VmRSS');
  let main = 0;
  let other = 0;
  let top = 0;
  let mainSys = 0;
  for (const [tid, s] of c2) {
    const d = s - (c0.get(tid) ?? 0);
    if (tid === `${pid}:sys`) mainSys = d;
    if (tid.endsWith(':sys')) continue;
    if (tid === String(pid)) main += d;
    else {
      other += d;
      top = Math.max(top, d);
    }
  }
  const during = [...c1]
    .filter(([tid]) => !tid.endsWith(':sys'))
    .reduce((n, [tid, s]) => n + s - (c0.get(tid) ?? 0), 0);
  let captured = NaN;
  try {
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    captured = [...metrics.matchAll(/^tapwire_exchanges_captured_total\{[^}]*\} (\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  } catch {
    // metrics unavailable
  }
  await stop(child, 'SIGINT');
  const k = w.reqs / 1000;
  return {
    rps: w.rps,
    mainPerK: main / k,
    mainSysPerK: mainSys / k,
    otherPerK: other / k,
    workerPerK: top / k,
    totalPerK: (main + other) / k,
    duringPerK: during / k,
    idleMb: idleKb / 1024,
    hwmMb: hwmKb / 1024,
    rssMb: rssKb / 1024,
    captured,
    reqs: w.reqs,
    bad: w.bad,
  };
}

async function main() {
  mkdirSync(`${T}/www`, { recursive: true });
  writeFileSync(`${T}/www/1k.bin`, 'x'.repeat(1024));
  const backendPort = await freePort();
  nginxConf(`${T}/backend`, `server { listen 127.0.0.1:${backendPort}; location / { root ${T}/www; } }`);
  if (!(await waitHttp(`http://127.0.0.1:${backendPort}/1k.bin`, 10000))) throw new Error('backend did not start');
  let proxy;
  let proxyPort;
  if (values.nginx) {
    proxyPort = await freePort();
    proxy = nginxConf(
      `${T}/proxy`,
      `upstream b { server 127.0.0.1:${backendPort}; keepalive 64; keepalive_requests 1000000; }
server { listen 127.0.0.1:${proxyPort}; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
    );
    if (!(await waitHttp(`http://127.0.0.1:${proxyPort}/1k.bin`, 10000))) throw new Error('nginx proxy did not start');
  }
  const results = new Map();
  for (let r = 1; r <= ROUNDS; r++) {
    if (proxy) {
      const pids = [proxy.pid, ...readFileSync(`/proc/${proxy.pid}/task/${proxy.pid}/children`, 'utf8').split(/\s+/)]
        .filter(Boolean)
        .map(Number);
      const cpu = () => pids.reduce((n, p) => n + [...threadCpu(p).values()].reduce((a, b) => a + b, 0), 0);
      const c0 = cpu();
      const w = wrk(`http://127.0.0.1:${proxyPort}/1k.bin`, DUR);
      const res = { rps: w.rps, totalPerK: (cpu() - c0) / (w.reqs / 1000), mainPerK: NaN, otherPerK: NaN };
      (results.get('nginx') ?? results.set('nginx', []).get('nginx')).push(res);
      console.error(`round ${r} nginx: ${w.rps.toFixed(0)} req/s, ${res.totalPerK.toFixed(4)} cpu s/1k`);
    }
    for (const v of variants) {
      const res = await measureTapwire(v, r, backendPort);
      (results.get(v.name) ?? results.set(v.name, []).get(v.name)).push(res);
      console.error(
        `round ${r} ${v.name}: ${res.rps.toFixed(0)} req/s, cpu s/1k total ${res.totalPerK.toFixed(4)} ` +
          `(main ${res.mainPerK.toFixed(4)} of which sys ${res.mainSysPerK.toFixed(4)}, other ${res.otherPerK.toFixed(4)}, busiest other ${res.workerPerK.toFixed(4)}), ` +
          `RSS idle ${res.idleMb.toFixed(1)} peak ${res.hwmMb.toFixed(1)} MB, captured ${res.captured}/${res.reqs}${res.bad ? ' ERRORS' : ''}`,
      );
    }
  }
  console.log('| target | req/s | CPU s/1k total | main | other threads | busiest other | RSS idle MB | RSS peak MB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const f = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : '');
  for (const [name, rs] of results) {
    const m = (k) => median(rs.map((x) => x[k]));
    console.log(
      `| ${name} | ${f(m('rps'), 0)} | ${f(m('totalPerK'), 4)} | ${f(m('mainPerK'), 4)} | ${f(m('otherPerK'), 4)} | ` +
        `${f(m('workerPerK'), 4)} | ${f(m('idleMb'), 1)} | ${f(m('hwmMb'), 1)} |`,
    );
  }
}

try {
  await main();
} finally {
  for (const c of children) await stop(c);
  if (!process.env.KEEP_TMP) rmSync(T, { recursive: true, force: true });
}
