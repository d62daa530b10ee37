import { execFile } from 'node:child_process';
import { closeSync, openSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';

/**
 * systemd hands a service one stream for stdout and stderr and names it in JOURNAL_STREAM
 * (`DEVICE:INODE`). Here that stream is a file both go to; JOURNAL_STREAM names it, or names
 * another file (a variable inherited by a process whose output goes elsewhere), or is unset.
 */
const streamOf = (file: string): string => {
  const st = statSync(file);
  return `${st.dev}:${st.ino}`;
};

describe('under systemd, each stdout and stderr line starts with its journald priority', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab({});
  }, 60_000);
  afterAll(async () => {
    await dl?.stopDaemon();
    await dl?.destroy();
  });

  /** `serve` in the server namespace with stdout and stderr on `out`, until it has started and stopped. */
  async function serveIntoFile(out: string, journalStream: string | undefined): Promise<string[]> {
    const config = join(dl.dir, 'knockgate.toml');
    await writeFile(config, labConfig(dl.dir, labDoor()));
    const fd = openSync(out, 'w');
    const env = { ...process.env, JOURNAL_STREAM: journalStream };
    if (journalStream === undefined) delete env.JOURNAL_STREAM;
    const daemon = dl.lab.spawn(dl.lab.server, process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', fd, fd], env });
    dl.daemon = daemon;
    closeSync(fd);
    try {
      await waitFor(async () => (await readFile(out, 'utf8')).includes('"outcome":"started"') || undefined, { timeoutMs: 15_000, what: 'the daemon to start' });
      // A first knock: its stage line is at debug.
      await dl.knock(dl.lab.client, [dl.lab.server.ip4, '7000']);
      await waitFor(async () => (await readFile(out, 'utf8')).includes('"outcome":"stage"') || undefined, { timeoutMs: 5_000, what: 'the stage line' });
    } finally {
      await dl.stopDaemon();
    }
    return (await readFile(out, 'utf8')).split('\n').filter(Boolean);
  }

  it('prefixes each JSON line with <N> from its level (info 6, debug 7) and keeps the JSON after it', async () => {
    const out = join(dl.dir, 'journal.out');
    await writeFile(out, '');
    const lines = await serveIntoFile(out, streamOf(out));
    for (const line of lines) expect(line).toMatch(/^<[2-7]>\{"level":\d+,/);
    const parsed = lines.map((l) => ({ prefix: Number(l.slice(1, 2)), record: JSON.parse(l.slice(3)) as { level: number; outcome?: string } }));
    expect(parsed.find((p) => p.record.outcome === 'started')).toMatchObject({ prefix: 6, record: { level: 30 } });
    expect(parsed.find((p) => p.record.outcome === 'stopped')).toMatchObject({ prefix: 6 });
    const debug = parsed.filter((p) => p.record.level === 20);
    expect(debug.length).toBeGreaterThan(0);
    expect(debug.every((p) => p.prefix === 7)).toBe(true);
  }, 60_000);

  it('prefixes the one error line of a failed start with <3>', async () => {
    const out = join(dl.dir, 'failed.out');
    await writeFile(out, '');
    const missing = join(dl.dir, 'missing.toml');
    const failed = await promisify(execFile)('sh', ['-c', 'exec "$0" "$1" serve --config "$2" 2>>"$3"', process.execPath, CLI, missing, out], { env: { ...process.env, JOURNAL_STREAM: streamOf(out) } }).then(
      () => false,
      () => true,
    );
    expect(failed).toBe(true);
    const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^<3>\S*missing\.toml: cannot be read/);
  });

  it('writes no prefix when JOURNAL_STREAM is unset or names another stream', async () => {
    const other = join(dl.dir, 'other');
    await writeFile(other, '');
    for (const stream of [undefined, streamOf(other)]) {
      const out = join(dl.dir, 'plain.out');
      const lines = await serveIntoFile(out, stream);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line).toMatch(/^\{"level":\d+,/);
    }
  }, 60_000);
});
