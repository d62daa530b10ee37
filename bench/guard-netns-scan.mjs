#!/usr/bin/env node
// The cost of one guard poll over many network namespaces: NS throwaway namespaces (default 50),
// each with a python3 process holding SOCKETS/NS listeners (default 10,000 in all: TCP, TCP6,
// UDP), then repeated polls as the daemon makes them (one FdScanCache across polls), side by
// side: the sockets read through sock_diag (inside each namespace; as all_netns reads the
// others, without bound-only TCP sockets) and through /proc/<pid>/net; and one namespace holding
// all of them (read as the guard's own, bound-only sockets too), for the cost of the namespaces
// themselves. Also the cost of finding the namespaces (/run/netns and every /proc/<pid>/ns/net)
// and of the NAT check when the ruleset did not change (nft's generation) against a re-listing.
// Medians and ratios. Needs root and `npm run build`.
//   node bench/guard-netns-scan.mjs [NS] [TOTAL_SOCKETS]
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const POLLS = 20;
const nsCount = process.argv[2] === '--inside' ? 0 : Number(process.argv[2] ?? 50);
const total = Number(process.argv[3] ?? 10_000);
const dist = new URL('../dist/', import.meta.url).href;
const { readSocketTable, FdScanCache } = await import(`${dist}guard/socket-table.js`);
const { evaluatePorts } = await import(`${dist}guard/port-evaluator.js`);
const { listNamespaces } = await import(`${dist}guard/netns-inventory.js`);
const { NatWatcher } = await import(`${dist}guard/watchers/nat.js`);

const holderPy = `
import socket, sys, time
n, base = int(sys.argv[1]), int(sys.argv[2]); held = []
for i in range(n):
    kind = i % 4
    if kind == 0:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s.bind(('::', base + i)); s.listen(8)
    elif kind == 1:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', base + i))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(('0.0.0.0', base + i)); s.listen(8)
    held.append(s)
print('ready', flush=True)
time.sleep(900)
`;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] * 100) / 100;
};
const time = (fn) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};

const prefix = `kgt-bench-${process.pid}`;
const made = [];
const holders = [];

async function namespaceWith(name, sockets) {
  execFileSync('ip', ['netns', 'add', name]);
  made.push(name);
  const holder = spawn('ip', ['netns', 'exec', name, 'prlimit', `--nofile=${sockets + 100}`, '/usr/bin/python3', '-c', holderPy, String(sockets), '20000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(holder);
  await new Promise((resolve, reject) => {
    holder.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    holder.once('exit', (code) => reject(new Error(`holder in ${name} exited ${code}`)));
  });
  return { name, path: `/run/netns/${name}`, pid: holder.pid, bound: false };
}

if (process.argv[2] === '--inside') {
  await measure(JSON.parse(process.argv[3]));
  process.exit(0);
}

try {
  const per = Math.ceil(total / nsCount);
  const many = [];
  for (let i = 0; i < nsCount; i++) many.push(await namespaceWith(`${prefix}-${i}`, per));
  // The one namespace stands for the guard's own: its bound-only sockets are read too.
  const one = [{ ...(await namespaceWith(`${prefix}-one`, total)), bound: true }];
  // Measured from a namespace of its own, so the NAT check's nft runs touch nothing of the host.
  const bench = `${prefix}-bench`;
  execFileSync('ip', ['netns', 'add', bench]);
  made.push(bench);
  const out = execFileSync('ip', ['netns', 'exec', bench, process.execPath, fileURLToPath(import.meta.url), '--inside', JSON.stringify({ many, one, nsCount })], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  console.log(out.trim());
} finally {
  for (const h of holders) if (h.pid) process.kill(h.pid, 'SIGKILL');
  for (const name of made) execFileSync('ip', ['netns', 'del', name]);
}

async function measure({ many, one, nsCount }) {
  const polls = (namespaces, source) => {
    const cache = new FdScanCache();
    const times = [];
    let table;
    for (let i = 0; i < POLLS; i++) {
      times.push(
        time(() => {
          table = readSocketTable({ namespaces, fdCache: cache, source });
          evaluatePorts([], table.listeners, { reportUnexpected: false });
        }),
      );
    }
    return { medianMs: median(times), sockets: table.listeners.length, source: table.source };
  };
  // Alternate the variants so drift on the shared machine hits each alike.
  const results = { diagMany: [], procMany: [], diagOne: [] };
  let figures = {};
  for (let round = 0; round < 3; round++) {
    for (const [key, ns, source] of [
      ['diagMany', many, 'auto'],
      ['procMany', many, 'proc'],
      ['diagOne', one, 'auto'],
    ]) {
      const r = polls(ns, source);
      results[key].push(r.medianMs);
      figures[key] = r;
    }
  }
  const inventory = [];
  for (let i = 0; i < POLLS; i++) inventory.push(time(() => listNamespaces()));

  // NAT: a poll whose nft generation did not move, against one that lists the ruleset again.
  const silent = { warn() {}, info() {}, error() {} };
  const nat = new NatWatcher([{ name: 'ssh', proto: 'tcp', port: 22, owner: {}, mustListen: true, enforce: false, shared: false }], { logger: silent, interfaces: [], once: false, now: Date.now });
  await nat.findings();
  const unchanged = [];
  const relisted = [];
  for (let i = 0; i < POLLS; i++) {
    execFileSync('nft', ['add', 'table', 'inet', 'kgt_bench']);
    let t0 = performance.now();
    await nat.findings();
    relisted.push(performance.now() - t0);
    execFileSync('nft', ['delete', 'table', 'inet', 'kgt_bench']);
    await nat.findings();
    t0 = performance.now();
    await nat.findings();
    unchanged.push(performance.now() - t0);
  }

  const m = (key) => median(results[key]);
  console.log(
    JSON.stringify({
      namespaces: nsCount,
      sockets: figures.diagMany.sockets,
      poll_sock_diag_ms: m('diagMany'),
      poll_proc_net_ms: m('procMany'),
      ratio_sock_diag_vs_proc: Math.round((m('diagMany') / m('procMany')) * 100) / 100,
      poll_one_namespace_sock_diag_ms: m('diagOne'),
      ratio_many_vs_one_namespace: Math.round((m('diagMany') / m('diagOne')) * 100) / 100,
      namespace_inventory_ms: median(inventory),
      nat_check_unchanged_ms: median(unchanged),
      nat_check_relisted_ms: median(relisted),
      ratio_nat_unchanged_vs_relisted: Math.round((median(unchanged) / median(relisted)) * 100) / 100,
    }),
  );
}
