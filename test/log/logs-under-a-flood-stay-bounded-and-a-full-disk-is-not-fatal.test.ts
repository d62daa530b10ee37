import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDaemon } from '../../src/client/control-client.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { createLab, run, type Lab } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { LOG_LINES_PER_KIND_PER_SECOND } from '../../src/log/log-budget.js';

/**
 * A knockd.conf logs every stage at info, as knockd does: a spoofed flood used to write a line
 * per packet (20,000 SYNs, ~4 MB), and a full or read-only disk under the LogFile crashed the
 * daemon. Here the LogFile sits on a 1 MiB tmpfs: the flood writes at most the per-second budget
 * of each kind of line, and once the tmpfs is full, or the file can only be reopened read-only,
 * the daemon stays up, counts the failed writes in `knockgate status`, and still opens for a
 * real knock.
 */

const FLOOD_SYNS = 20_000;
/** hping3 sends one SYN every 150 µs: the flood lasts about three seconds. */
const FLOOD_INTERVAL = 'u150';
const FLOOD_TIME_LIMIT_S = 20;
/** A LogFile line of this door is at most this long ("[2026-12-02 18:08] 10.123.45.67: ssh: sequence timeout (stage 1)"). */
const MAX_LINE_BYTES = 80;
/** Kinds of line a flood of first knocks makes: the stage, and (once seq_timeout passes) the timeout. */
const FLOOD_KINDS = 2;

describe('logs under a flood stay bounded, and a full or read-only disk is not fatal', () => {
  let lab: Lab;
  let dir: string;
  let logDir: string;
  let events: string;
  let daemon: ChildProcess;
  const output: string[] = [];
  const logFile = () => join(logDir, 'knockd.log');
  const status = async () => (await askDaemon(join(dir, 'control.sock'), 'status')) as DaemonStatus;
  const knock = async (): Promise<void> => {
    await lab.exec(lab.client, 'knock', [lab.server.ip4, '7000', '8000', '9000']);
    await waitFor(async () => ((await readFile(events, 'utf8').catch(() => '')).includes(lab.client.ip4) ? true : undefined), { timeoutMs: 5_000, what: 'the start command after a knock' });
    await writeFile(events, '');
  };
  const flood = async (count: number): Promise<{ sent: number; seconds: number }> => {
    const started = performance.now();
    const out = await lab
      .exec(lab.client, 'timeout', [String(FLOOD_TIME_LIMIT_S), 'hping3', '-S', '-p', '7000', '--rand-source', '-c', String(count), '-i', FLOOD_INTERVAL, lab.server.ip4], { timeoutMs: (FLOOD_TIME_LIMIT_S + 5) * 1000 })
      .catch((e: Error) => e.message);
    return { sent: Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? count), seconds: (performance.now() - started) / 1000 };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-logpressure-'));
    logDir = join(dir, 'logs');
    events = join(dir, 'events');
    await run('mkdir', ['-p', logDir]);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'kgt-logs', logDir]);
    lab = await createLab({ prefix: 'kgt' });
    const conf = join(dir, 'knockd.conf');
    await writeFile(
      conf,
      `[options]
    LogFile = ${logFile()}
    Interface = eth0

[ssh]
    sequence      = 7000,8000,9000
    seq_timeout   = 2
    start_command = echo "start %IP%" >> ${events}
`,
    );
    daemon = lab.spawn(lab.server, process.execPath, [CLI, 'serve', '--knockd-conf', conf, '--state-dir', dir, '--control-socket', join(dir, 'control.sock')]);
    daemon.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    daemon.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    await waitFor(async () => ((await readFile(logFile(), 'utf8').catch(() => '')).includes('starting up, listening on eth0') ? true : undefined), {
      timeoutMs: 15_000,
      what: `the daemon to start; output: ${output.join('')}`,
    });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
    await run('umount', [logDir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it(`a flood of ${FLOOD_SYNS} spoofed first knocks writes at most ${LOG_LINES_PER_KIND_PER_SECOND} lines of a kind a second, and says how many it left out`, async () => {
    const before = (await stat(logFile())).size;
    const { sent, seconds } = await flood(FLOOD_SYNS);
    // The timeouts of the flood's attempts (seq_timeout 2 s), then the summaries of the last second.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const text = await readFile(logFile(), 'utf8');
    const written = text.length - before;
    const bound = (seconds + 4) * FLOOD_KINDS * (LOG_LINES_PER_KIND_PER_SECOND + 1) * MAX_LINE_BYTES;
    process.stdout.write(`flood: ${sent} spoofed SYNs in ${seconds.toFixed(1)} s wrote ${written} bytes to the LogFile (bound ${Math.round(bound)}; one line a packet would be ~${sent * 45})\n`);
    expect(sent).toBeGreaterThan(FLOOD_SYNS / 2);
    expect(written).toBeLessThan(bound);
    expect(text).toMatch(/\] suppressed \d+ "stage" line\(s\) in one second/);
    const s = await status();
    expect(s.log?.suppressed).toBeGreaterThan(sent / 2);
    await knock();
  }, 60_000);

  it('once the disk is full, failed writes are counted (ENOSPC) and the daemon stays up and still opens', async () => {
    // Fill the tmpfs; dd stops at ENOSPC. The log's last page still takes a few lines, the flood's do not.
    await run('dd', ['if=/dev/zero', `of=${join(logDir, 'fill')}`, 'bs=4k']).catch(() => undefined);
    await flood(10_000);
    await waitFor(async () => ((await status()).log?.file?.errors['ENOSPC'] ? true : undefined), { timeoutMs: 5_000, what: 'a failed write counted in status' });
    await knock();
    const s = await status();
    expect(daemon.exitCode).toBeNull();
    expect(s.log?.file?.dropped).toBeGreaterThan(0);
    expect(output.join('')).toMatch(/log file .*knockd\.log: .*\(ENOSPC\).*keeps running/);
  }, 60_000);

  it('a log file that can only be reopened read-only (EROFS, after logrotate and SIGHUP) is counted, and the daemon stays up and still opens', async () => {
    // The open file keeps the full tmpfs busy: detach it, and put a read-only one where it was, in
    // the daemon's own mount namespace (`ip netns exec` gave it one).
    const inDaemon = ['-t', String(daemon.pid), '-m'];
    await run('nsenter', [...inDaemon, 'umount', '-l', logDir]);
    await run('nsenter', [...inDaemon, 'mount', '-t', 'tmpfs', '-o', 'ro,size=64k', 'kgt-logs-ro', logDir]);
    process.kill(daemon.pid!, 'SIGHUP');
    await waitFor(async () => ((await status()).log?.file?.errors['EROFS'] ? true : undefined), { timeoutMs: 5_000, what: 'the read-only reopen counted in status' });
    await knock();
    expect(daemon.exitCode).toBeNull();
  }, 30_000);
});
