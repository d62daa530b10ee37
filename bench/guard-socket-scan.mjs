#!/usr/bin/env node
// How long one guard scan of the socket table takes with N listening sockets (default 10,000):
// a throwaway network namespace, a python3 process holding N listeners (TCP, TCP6, UDP), then
// repeated readSocketTable() inside the namespace. Needs root and `npm run build`.
//   node bench/guard-socket-scan.mjs [N]
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCANS = 20;

if (process.argv[2] === '--inside') {
  const { readSocketTable } = await import(new URL('../dist/guard/socket-table.js', import.meta.url).href);
  const times = [];
  let table;
  for (let i = 0; i < SCANS; i++) {
    const t0 = performance.now();
    table = readSocketTable();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(SCANS / 2)];
  console.log(JSON.stringify({ sockets: table.listeners.length, processes: table.processes, owned: table.listeners.filter((l) => l.owners.length > 0).length, medianMs: Math.round(median * 10) / 10, maxMs: Math.round(times.at(-1) * 10) / 10 }));
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
