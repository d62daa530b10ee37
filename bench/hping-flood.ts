import type { Lab, LabHost } from '../src/lab/netns.js';

/**
 * `hping3 --flood ARGS` from a lab host for `seconds` (or until `stop` aborts). hping3 ignores -c
 * under --flood, so time is the bound: SIGINT (so it prints its count) at the limit or on abort,
 * and `timeout -k` kills it 2 s later if it lingers; the lab kills it by PID on destroy as well.
 */
export function hpingFlood(lab: Lab, from: LabHost, args: string[], seconds: number, stop?: AbortSignal): Promise<{ sent: number }> {
  const child = lab.spawn(from, 'timeout', ['-s', 'INT', '-k', '2', String(seconds), 'hping3', '--flood', '-q', ...args]);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  // timeout passes the signal it receives on to hping3.
  const interrupt = (): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGINT');
  };
  stop?.addEventListener('abort', interrupt, { once: true });
  return new Promise((resolve) =>
    child.once('exit', () => {
      stop?.removeEventListener('abort', interrupt);
      resolve({ sent: Number(/(\d+) packets transmitted/.exec(output)?.[1] ?? 0) });
    }),
  );
}

/** Frames the server's interface has received so far (what arrived, whoever examines it). */
export async function serverRxPackets(lab: Lab): Promise<number> {
  return Number((await lab.exec(lab.server, 'cat', [`/sys/class/net/${lab.server.iface}/statistics/rx_packets`])).trim());
}
