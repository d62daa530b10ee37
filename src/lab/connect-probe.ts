import type { Lab, LabHost } from './netns.js';

export interface ConnectResult {
  connected: boolean;
  /** Milliseconds the attempt took (until connected, or until the timeout). */
  ms: number;
}

/**
 * One TCP connect from inside a lab host, with a timeout: what an operator's `ssh` would see.
 * Runs `nc -z` (netcat-openbsd) in the namespace; a filtered port times out, an open one connects.
 */
export async function probeConnect(lab: Lab, from: LabHost, address: string, port: number, timeoutS = 2): Promise<ConnectResult> {
  const started = performance.now();
  try {
    await lab.exec(from, 'nc', ['-z', '-w', String(timeoutS), address, String(port)], { timeoutMs: (timeoutS + 3) * 1000 });
    return { connected: true, ms: performance.now() - started };
  } catch {
    return { connected: false, ms: performance.now() - started };
  }
}
