import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { askDaemon } from '../../src/client/control-client.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';
import type { DaemonLab } from './daemon-lab.js';

/** The daemon's status over its control socket, as `knockgate status --json` prints it. */
export async function daemonStatus(dl: DaemonLab): Promise<DaemonStatus> {
  return (await askDaemon(join(dl.dir, 'control.sock'), 'status')) as DaemonStatus;
}

export interface DaemonMemory {
  /** Resident set now, in bytes. */
  rss: number;
  /** Peak resident set since the process started (VmHWM), in bytes. */
  peakRss: number;
}

/** VmRSS and VmHWM of the daemon process from /proc (the lab shares the test's PID namespace). */
export async function daemonMemory(dl: DaemonLab): Promise<DaemonMemory> {
  const pid = dl.daemon?.pid;
  if (pid === undefined) throw new Error('the daemon is not running');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peakRss: kib('VmHWM') };
}

export const MIB = 1024 * 1024;
