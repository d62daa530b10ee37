import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DoorCommands } from '../src/config/model.js';
import type { CommandTemplate } from '../src/core/command-template.js';
import { CommandGate } from '../src/gates/command.js';
import { GateError } from '../src/gates/gate.js';
import { FileGrantStore } from '../src/store/file-grant-store.js';
import { MemoryGrantStore } from '../src/store/memory-grant-store.js';
import { grantId, type Grant } from '../src/core/grant.js';
import { waitFor } from '../src/lab/wait.js';
import { captureLogger } from './support/command-gate-fixtures.js';

const DOOR = 'ssh.admin-1';

function grant(src: string, forMs: number, family: 4 | 6 = 4): Grant {
  const now = Date.now();
  return { id: grantId(DOOR, src), door: DOOR, src, family, ports: [{ proto: 'tcp', port: 22 }, { proto: 'udp', port: 8443 }], grantedAt: now, expiresAt: now + forMs };
}

describe('command gate runs a door’s argv commands', () => {
  let dir: string;
  let record: string;
  /** A program that appends its arguments, as one JSON array per run, to `record`. */
  let recorder: (tag: string, ...args: string[]) => CommandTemplate;
  const readRuns = async (): Promise<string[][]> =>
    existsSync(record) ? (await readFile(record, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as string[]) : [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-command-gate-'));
    record = join(dir, 'runs.jsonl');
    recorder = (tag, ...args) => ({
      argv: [process.execPath, '-e', 'require("fs").appendFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)) + "\\n"); console.log("ran " + process.argv[2])', record, tag, ...args],
    });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const gateWith = (commands: Partial<DoorCommands>, opts: { store?: FileGrantStore | MemoryGrantStore; maxConcurrentCommands?: number; maxQueuedCommands?: number } = {}) => {
    const log = captureLogger();
    const gate = new CommandGate({
      doors: new Map([[DOOR, { timeLimitMs: 5_000, ...commands }]]),
      store: opts.store ?? new MemoryGrantStore(),
      logger: log.logger,
      ...(opts.maxConcurrentCommands !== undefined && { maxConcurrentCommands: opts.maxConcurrentCommands }),
      ...(opts.maxQueuedCommands !== undefined && { maxQueuedCommands: opts.maxQueuedCommands }),
    });
    return { gate, lines: log.lines };
  };

  it('substitutes each placeholder inside its own argument, never splitting or interpreting it', async () => {
    const { gate, lines } = gateWith({
      start: recorder('start', '{src}', 'door={door}', '{ports}', '{expires}', 'v{family}', '$(touch pwned); echo {door}', '{unknown}'),
      stop: recorder('stop', '{src}'),
    });
    const g = grant('2001:db8::7', 60_000, 6);
    await gate.grant(g);
    const [start] = await readRuns();
    expect(start).toEqual(['start', '2001:db8::7', `door=${DOOR}`, '22/tcp,8443/udp', String(Math.ceil(g.expiresAt / 1000)), 'v6', `$(touch pwned); echo ${DOOR}`, '{unknown}']);
    expect(existsSync(join(process.cwd(), 'pwned'))).toBe(false);
    expect(lines.find((l) => l.command === 'start')).toMatchObject({ door: DOOR, src: '2001:db8::7', code: 0, stdout: 'ran start' });
    expect(await gate.list()).toEqual([{ src: '2001:db8::7', proto: 'cmd', port: 0, expiresInMs: expect.any(Number) }]);
    await gate.revoke(g);
    expect((await readRuns())[1]).toEqual(['stop', '2001:db8::7']);
    expect(gate.counters()).toEqual({ commandsRun: 2, nonZeroExits: 0, timedOut: 0, refused: 0 });
  });

  it('runs a string through /bin/sh only with shell = true, placeholders pasted in', async () => {
    const out = join(dir, 'shell.txt');
    const { gate } = gateWith({ start: { shell: `echo "{src} {door} {ports}" > '${out}'` } });
    await gate.grant(grant('192.0.2.7', 60_000));
    expect((await readFile(out, 'utf8')).trim()).toBe(`192.0.2.7 ${DOOR} 22/tcp,8443/udp`);
  });

  it('runs the stop when the grant ends', async () => {
    const { gate } = gateWith({ start: recorder('start', '{src}'), stop: recorder('stop', '{src}') });
    await gate.grant(grant('192.0.2.8', 600));
    await waitFor(async () => (await readRuns()).length === 2, { timeoutMs: 5_000, what: 'the stop at expiry' });
    expect((await readRuns())[1]).toEqual(['stop', '192.0.2.8']);
    expect(await gate.list()).toEqual([]);
  });

  it('kills a command at its time limit, reports it and counts it', async () => {
    const { gate, lines } = gateWith({ start: { argv: ['sleep', '30'] }, timeLimitMs: 300 });
    const err = await gate.grant(grant('192.0.2.9', 60_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/start command of door ssh\.admin-1 for 192\.0\.2\.9 killed after 300 ms/);
    expect(gate.counters().timedOut).toBe(1);
    expect(lines.some((l) => String(l.msg).includes('killed after the 300 ms time limit'))).toBe(true);
  }, 10_000);

  it('reports a failing command with its output in the log and counts it; a missing program too', async () => {
    const { gate, lines } = gateWith({ start: { argv: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'] } });
    const err = await gate.grant(grant('192.0.2.10', 60_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/returned non-zero status code \(3\)/);
    expect((err as GateError).stderr).toMatch(/to-stderr/);
    expect(lines.find((l) => l.command === 'start')).toMatchObject({ code: 3, stdout: 'to-stdout', stderr: 'to-stderr' });

    const missing = gateWith({ start: { argv: ['/nonexistent/open-door', '{src}'] } }).gate;
    await expect(missing.grant(grant('192.0.2.11', 60_000))).rejects.toBeInstanceOf(GateError);
    expect(gate.counters().nonZeroExits).toBe(1);
    expect(missing.counters().nonZeroExits).toBe(1);
  });

  it('refuses a grant when the command queue is full, and counts it', async () => {
    const { gate } = gateWith({ start: { argv: ['sleep', '1'] } }, { maxConcurrentCommands: 1, maxQueuedCommands: 0 });
    const first = gate.grant(grant('192.0.2.12', 60_000));
    const err = await gate.grant(grant('192.0.2.13', 60_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/command queue full/);
    expect(gate.counters().refused).toBe(1);
    await first;
  }, 10_000);

  it('a restart runs a stop that fell due while knockgate was down, made again from the door in the config', async () => {
    const journal = join(dir, 'journal.json');
    const store1 = await FileGrantStore.open(journal);
    // No start command, so the grant returns as soon as the stop is journaled and the "crash"
    // (detach) comes long before the stop falls due.
    const { gate: before } = gateWith({ stop: recorder('stop', '{src}', '{ports}') }, { store: store1 });
    await before.grant(grant('192.0.2.14', 1_000));
    before.detach();
    await store1.close();
    await new Promise((r) => setTimeout(r, 1_300));
    expect(await readRuns()).toEqual([]);

    // The journal holds no command: the stop comes from the door as the config has it now.
    const store2 = await FileGrantStore.open(journal);
    const { gate: after } = gateWith({ stop: recorder('stop-now', '{src}', '{ports}') }, { store: store2 });
    expect(await after.reconcile([], Date.now())).toEqual([]);
    expect(await readRuns()).toEqual([['stop-now', '192.0.2.14', '22/tcp,8443/udp']]);
    expect(await store2.list()).toEqual([]);
    await store2.close();
  });
});
