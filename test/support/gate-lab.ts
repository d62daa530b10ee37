import type { ChildProcess } from 'node:child_process';
import type { Grant } from '../../src/core/grant.js';
import type { Family, PortSpec } from '../../src/core/packet.js';
import type { Lab, LabHost } from '../../src/lab/netns.js';

/** Shared pieces of the gate tests (any gate): an echo server, connect probes, sessions, grants. */

export const PROTECTED_PORT = 2222;
export const OPEN_PORT = 2223;

const ECHO_SERVER = `
const net = require('net');
let ready = 0;
for (const port of process.argv.slice(1).map(Number)) {
  net.createServer((c) => { c.on('error', () => {}); c.pipe(c); }).listen(port, '::', () => { if (++ready === process.argv.length - 1) console.log('ready'); });
}`;

const SESSION_CLIENT = `
const net = require('net');
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) }, () => console.log('connected'));
s.on('data', (d) => process.stdout.write(d));
process.stdin.on('data', (d) => s.write(d));
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
s.on('close', () => { console.log('closed'); process.exit(0); });
setTimeout(() => process.exit(2), 60000);`;

/** Collects a child's stdout lines and waits (bounded) for one that matches. */
export function lineWatcher(child: ChildProcess): (re: RegExp, timeoutMs: number) => Promise<boolean> {
  const lines: string[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters) w();
  });
  return (re, timeoutMs) =>
    new Promise((resolve) => {
      let from = 0;
      const check = (): void => {
        for (; from < lines.length; from++) {
          if (re.test(lines[from]!)) {
            lines.splice(0, from + 1);
            done(true);
            return;
          }
        }
      };
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      waiters.add(check);
      check();
    });
}

export async function startEchoServer(lab: Lab, ports: number[] = [PROTECTED_PORT, OPEN_PORT]): Promise<void> {
  const child = lab.spawn(lab.server, 'node', ['-e', ECHO_SERVER, ...ports.map(String)]);
  const ready = await lineWatcher(child)(/^ready$/, 10_000);
  if (!ready) throw new Error('echo server did not start');
}

/** True if a TCP connection from `from` to addr:port completes within 2 s. */
export async function canConnect(lab: Lab, addr: string, port: number, from: LabHost = lab.client): Promise<boolean> {
  const family = addr.includes(':') ? '-6' : '-4';
  try {
    await lab.exec(from, 'nc', [family, '-z', '-w', '2', addr, String(port)], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Polls (bounded in count and time) until canConnect returns `want`; returns the last answer. */
export async function waitForConnect(lab: Lab, addr: string, port: number, want: boolean, maxMs: number): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  for (let i = 0; i < 100; i++) {
    const got = await canConnect(lab, addr, port);
    if (got === want || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 250));
  }
  return !want;
}

export interface Session {
  child: ChildProcess;
  /** Sends a word and resolves true if it comes back within 5 s. */
  echo(word: string): Promise<boolean>;
}

export async function openSession(lab: Lab, addr: string, port: number): Promise<Session> {
  const child = lab.spawn(lab.client, 'node', ['-e', SESSION_CLIENT, addr, String(port)]);
  const wait = lineWatcher(child);
  if (!(await wait(/^connected$/, 5_000))) throw new Error(`session to ${addr}:${port} did not connect`);
  return {
    child,
    echo: (word) => {
      child.stdin!.write(word + '\n');
      return wait(new RegExp(`^${word}$`), 5_000);
    },
  };
}

export function grantFor(src: string, family: Family, forMs: number, ports: PortSpec[] = [{ proto: 'tcp', port: PROTECTED_PORT }]): Grant {
  const now = Date.now();
  return { id: `ssh|${src}`, door: 'ssh', src, family, ports, grantedAt: now, expiresAt: now + forMs };
}

/** Whether a process we started still exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
