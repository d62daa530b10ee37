import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab, LabHost } from './netns.js';
import { waitFor } from './wait.js';

export interface FwknopdPeerOptions {
  /** fwknopd.conf lines besides FWKNOP_RUN_DIR (e.g. `PCAP_INTF eth0;`). */
  conf?: string[];
  /** access.conf text: one or more stanzas. */
  access: string;
  /** Pass -U: listen on a UDP socket (port 62201) instead of capturing. */
  udpServer?: boolean;
  /** Pass -v (default true): the decoded fields of each packet are dumped too. */
  verbose?: boolean;
  /** Called with each whole line fwknopd prints, also past the kept log's bound (to count lines in a flood). */
  onLine?: (line: string) => void;
}

export interface FwknopdPeer {
  pid: number;
  /** Everything fwknopd -f -v printed so far (stdout and stderr). */
  log(): string;
  /** Wait until the log matches; returns the match. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** SIGTERM by PID (fwknopd then removes its chains), then remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** The log lines fwknopd 2.6.10 prints once it is ready (spec/fwknop-interop.md §0). */
const READY = /Starting fwknopd main event loop|Kicking off UDP server/;
/** Bounds the log a chatty fwknopd -v can pile up in one test. */
const MAX_LOG_CHARS = 4 << 20;

/** The real fwknopd 2.6.10 in the foreground, verbose, in `host`'s namespace, ready when this resolves. */
export async function startFwknopd(lab: Lab, host: LabHost, opts: FwknopdPeerOptions): Promise<FwknopdPeer> {
  const work = mkdtempSync(join(tmpdir(), 'kgt-fwknopd-'));
  const conf = join(work, 'fwknopd.conf');
  const access = join(work, 'access.conf');
  writeFileSync(conf, [...(opts.conf ?? []), `FWKNOP_RUN_DIR ${work};`, ''].join('\n'));
  writeFileSync(access, opts.access);
  // fwknopd warns about (and some versions refuse) config files others can read.
  chmodSync(conf, 0o600);
  chmodSync(access, 0o600);
  const args = ['-f', ...(opts.verbose === false ? [] : ['-v']), ...(opts.udpServer ? ['-U'] : []), '-c', conf, '-a', access, '-d', join(work, 'digest.cache'), '-p', join(work, 'fwknopd.pid')];
  const child: ChildProcess = lab.spawn(host, 'fwknopd', args);
  let log = '';
  let partial = '';
  const append = (d: Buffer): void => {
    const text = d.toString();
    if (log.length < MAX_LOG_CHARS) log += text;
    if (!opts.onLine) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) opts.onLine(line);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let stopped = false;
  const peer: FwknopdPeer = {
    pid: child.pid ?? -1,
    log: () => log,
    waitForLog: (pattern, timeoutMs = 10_000) => waitFor(() => pattern.exec(log), { timeoutMs, what: `fwknopd to log ${pattern}` }),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        process.kill(child.pid, 'SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5_000))]);
      }
      rmSync(work, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(() => READY.test(log) || child.exitCode !== null, { timeoutMs: 10_000, what: 'fwknopd to start' });
    if (!READY.test(log)) throw new Error(`fwknopd did not start: ${log}`);
  } catch (e) {
    await peer.stop();
    throw e;
  }
  return peer;
}
