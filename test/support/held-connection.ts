import type { Lab, LabHost } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';

/**
 * A TCP connection held open from a lab host, as an ssh session would be: a small node client in
 * the namespace that writes each line of its stdin to the connection and each line it receives to
 * its stdout. Against the lab's echo service, `roundTrip` shows the session still carries data.
 */
export interface HeldConnection {
  /** Sends `text` and resolves with the line that comes back. */
  roundTrip(text: string, timeoutMs?: number): Promise<string>;
  close(): void;
}

const CLIENT = `
const [host, port] = process.argv.slice(1);
const s = require('node:net').connect({ host, port: Number(port) });
s.setTimeout(5000, () => { console.error('timed out'); process.exit(2); });
s.on('connect', () => { s.setTimeout(0); console.log('connected'); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.on('close', () => process.exit(3));
s.pipe(process.stdout);
process.stdin.pipe(s);
`;

/** Connects from `from` to `address:port`; rejects when the connection does not come up (within 5 s, the client's bound). */
export async function holdConnection(lab: Lab, from: LabHost, address: string, port: number): Promise<HeldConnection> {
  const child = lab.spawn(from, process.execPath, ['-e', CLIENT, address, String(port)]);
  let out = '';
  let exited: number | null | undefined;
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.once('exit', (code) => (exited = code));
  await waitFor(() => out.startsWith('connected\n') || exited !== undefined, { timeoutMs: 8_000, what: `a connection from ${from.ip4} to ${address}:${port}` });
  if (!out.startsWith('connected\n')) throw new Error(`no connection from ${from.ip4} to ${address}:${port} (client exited ${exited})`);
  out = '';
  return {
    async roundTrip(text, timeoutMs = 5_000) {
      out = '';
      child.stdin!.write(`${text}\n`);
      await waitFor(() => out.includes('\n') || exited !== undefined, { timeoutMs, what: `the echo of "${text}"` });
      if (!out.includes('\n')) throw new Error(`the connection closed (client exited ${exited}) before "${text}" came back`);
      return out.slice(0, out.indexOf('\n'));
    },
    close() {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    },
  };
}
