import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';
import { receiverConfig } from './lambda-fakes.js';

/** A TCP service answering `echo:` + what it got, for the host behind the Security Group. */
export interface EchoHost {
  port: number;
  close(): Promise<void>;
}

export async function startEchoHost(address: string): Promise<EchoHost> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d: Buffer) => s.write(`echo:${d.toString()}`));
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** `knockgate connect ARGS` as ssh runs it: stdin and stdout its stream, stderr its reports. */
export interface ConnectRun {
  process: ChildProcess;
  stdout(): string;
  stderr(): string;
  write(text: string): void;
  /** Ends stdin with `text`; resolves with the exit status once connect has closed. */
  end(text: string): Promise<number | null>;
  /** Killed by PID if it still runs (afterAll). */
  kill(): void;
}

export function runConnect(args: string[], env: NodeJS.ProcessEnv): ConnectRun {
  const proc = spawn(process.execPath, [CLI, 'connect', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('close', resolve));
  return {
    process: proc,
    stdout: () => stdout,
    stderr: () => stderr,
    write: (text) => proc.stdin.write(text),
    end: (text) => {
      proc.stdin.end(text);
      return exited;
    },
    kill: () => {
      if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGKILL');
    },
  };
}

/**
 * A one-shot grant of the receiver used up as connect reports it: bytes through the relay, then
 * the open and close lines for `address` — and nothing else — on stderr.
 */
export async function expectRelayThenClosed(run: ConnectRun, address: string): Promise<void> {
  run.write('ping');
  await waitFor(() => run.stdout().includes('echo:ping'), { timeoutMs: 20_000, intervalMs: 50, what: 'the first bytes through the relay' });
  await waitFor(() => run.stderr().includes('receiver closed') || run.stderr().includes('warning:'), { timeoutMs: 15_000, intervalMs: 50, what: 'connect to report the close' });
  const a = address.replace(/[.:]/g, (c) => `\\${c}`);
  expect(run.stderr()).toMatch(new RegExp(`^receiver saw ${a}; opened 22/tcp for it until \\S+ \\(one-shot\\)\\nreceiver closed 22/tcp for ${a} \\(one-shot: used up by this connection\\)\\n$`));
}

/** The established connection is not the rule's: it relays to the end. */
export async function expectRelayedToTheEnd(run: ConnectRun): Promise<void> {
  expect(await run.end('pong')).toBe(0);
  expect(run.stdout()).toBe('echo:pingecho:pong');
}

/**
 * A receiver lab and the echo host behind it for one test file: started in beforeAll, and in
 * afterAll every connect run tracked here killed by PID, the host closed and the lab stopped.
 */
export function receiverAndEchoHost<L extends { stop(): Promise<void> }>(start: () => Promise<L>, address: string): { lab(): L; echo(): EchoHost; track(run: ConnectRun): ConnectRun } {
  let lab: L | undefined;
  let echo: EchoHost | undefined;
  const runs: ConnectRun[] = [];
  beforeAll(async () => {
    lab = await start();
    echo = await startEchoHost(address);
  }, 30_000);
  afterAll(async () => {
    for (const run of runs) run.kill();
    await echo?.close();
    await lab?.stop();
  });
  return {
    lab: () => lab!,
    echo: () => echo!,
    track: (run) => {
      runs.push(run);
      return run;
    },
  };
}

/** The fwknop keys of the one-shot receiver door `laptops` (oneShotReceiverConfig), as connect's flags. */
const ONE_SHOT_KEY = Buffer.alloc(32, 0x3d).toString('base64');
const ONE_SHOT_HMAC_KEY = Buffer.alloc(64, 0xd3).toString('base64');
export const ONE_SHOT_KEYS = ['--key-base64-rijndael', ONE_SHOT_KEY, '--key-base64-hmac', ONE_SHOT_HMAC_KEY];

/** The receiver's config: door `laptops`, one-shot, 60 s, opening through Security Group `sg`. */
export function oneShotReceiverConfig(sg: string): string {
  return receiverConfig({ sg, door: 'laptops', key: ONE_SHOT_KEY, hmacKey: ONE_SHOT_HMAC_KEY, openFor: '60s', extra: ['one_shot = true'] });
}
