#!/usr/bin/env node
// How long one guard scan of the socket table takes with N listening sockets (default 10,000):
// a throwaway network namespace, a python3 process holding N listeners (TCP, TCP6, UDP), then
// repeated readSocketTable() inside the namespace, one-shot (guard check) and as the daemon polls
// (with its FdScanCache), the sockets read through sock_diag and through /proc/net alternately
// (medians, and the ratio sock_diag / proc). Needs root and `npm run build`.
//   node bench/guard-socket-scan.mjs [N]
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCANS = 20;

if (process.argv[2] === '--inside') {
  const { readSocketTable, FdScanCache } = await import(new URL('../dist/guard/socket-table.js', import.meta.url).href);
  // One-shot scans (guard check), then the daemon's polls: one FdScanCache across scans, so
  // processes whose fd table did not change are not read again (a full read every few polls).
  const measure = (opts) => {
    const times = [];
    let table;
    for (let i = 0; i < SCANS; i++) {
      const t0 = performance.now();
      table = readSocketTable(opts());
      times.push(performance.now() - t0);
    }
    const mean = times.reduce((a, b) => a + b, 0) / SCANS;
    times.sort((a, b) => a - b);
    const round = (ms) => Math.round(ms * 10) / 10;
    return { table, medianMs: round(times[Math.floor(SCANS / 2)]), meanMs: round(mean), maxMs: round(times.at(-1)) };
  };
  // Alternate the sources so drift on the shared machine hits both alike.
  const runs = { diag: { oneShot: [], polls: [] }, proc: { oneShot: [], polls: [] } };
  let table;
  for (let round = 0; round < 3; round++) {
    for (const source of ['diag', 'proc']) {
      const opt = source === 'proc' ? { source: 'proc' } : {};
      runs[source].oneShot.push(measure(() => opt).medianMs);
      const cache = new FdScanCache();
      const polls = measure(() => ({ ...opt, fdCache: cache }));
      runs[source].polls.push(polls.medianMs);
      table = polls.table;
    }
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    JSON.stringify({
      sockets: table.listeners.length,
      processes: table.processes,
      owned: table.listeners.filter((l) => l.owners.length > 0).length,
      oneShot: { sockDiagMs: med(runs.diag.oneShot), procMs: med(runs.proc.oneShot), ratio: Math.round((med(runs.diag.oneShot) / med(runs.proc.oneShot)) * 100) / 100 },
      polls: { sockDiagMs: med(runs.diag.polls), procMs: med(runs.proc.polls), ratio: Math.round((med(runs.diag.polls) / med(runs.proc.polls)) * 100) / 100 },
    }),
  );
  process.exit(0);
}

const n = Number(process.argv[2] ?? 10_000);
const ns = `kgt-bench-${process.pid}`;
const listenerPy = `
import socket, sys, time
n = int(sys.argv[1]); held = []
for i in range(n):
    kind = i % 4
    if kind == 0:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.bind(('::', 20000 + i)); s.listen(8)
    elif kind == 1:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 20000 + i))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(('0.0.0.0', 20000 + i)); s.listen(8)
    held.append(s)
print('ready', flush=True)
time.sleep(600)
`;
execFileSync('ip', ['netns', 'add', ns]);
let holder;
try {
  holder = spawn('ip', ['netns', 'exec', ns, 'prlimit', `--nofile=${n + 100}`, '/usr/bin/python3', '-c', listenerPy, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    holder.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    holder.once('exit', (code) => reject(new Error(`listener exited ${code}`)));
  });
  const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), '--inside'], { encoding: 'utf8' });
  console.log(out.trim());
} finally {
  if (holder?.pid) process.kill(holder.pid, 'SIGKILL');
  execFileSync('ip', ['netns', 'del', ns]);
}
