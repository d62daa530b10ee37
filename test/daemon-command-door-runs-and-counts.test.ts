import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDaemonLab, labConfig, type DaemonLab } from './support/daemon-lab.js';
import { waitFor } from '../src/lab/wait.js';

describe('daemon: a door with gate = "command"', () => {
  let dl: DaemonLab;
  let opened: string;
  beforeAll(async () => {
    dl = await createDaemonLab();
    opened = join(dl.dir, 'opened.txt');
    await dl.serve(
      labConfig(
        dl.dir,
        `[door.helper]
sequence = ["7000:tcp", "8000:tcp"]
open = ["2222/tcp"]
open_for = "2s"
gate = "command"
start = ["/bin/sh", "-c", "echo \\"open $1 $2\\" >> \\"$0\\"", "${opened}", "{src}", "{ports}"]
stop = ["/bin/sh", "-c", "echo \\"close $1\\" >> \\"$0\\"", "${opened}", "{src}"]

[door.broken]
sequence = ["7100:tcp", "8100:tcp"]
open = ["2223/tcp"]
gate = "command"
start = ["/bin/false"]
`,
      ),
    );
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('runs the start on the knock and the stop when the grant ends, and counts a failing start in status', async () => {
    const { lab } = dl;
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000']);
    await waitFor(() => existsSync(opened), { timeoutMs: 5_000, what: 'the start command' });
    await waitFor(async () => (await readFile(opened, 'utf8')).includes('close'), { timeoutMs: 8_000, what: 'the stop command' });
    expect((await readFile(opened, 'utf8')).trim().split('\n')).toEqual([`open ${lab.client.ip4} 2222/tcp`, `close ${lab.client.ip4}`]);

    await dl.knock(lab.client, [lab.server.ip4, '7100', '8100']);
    await dl.waitForLog((e) => e.door === 'broken' && e.command === 'start' && e.code === 1, 5_000, 'the failed start');
    const out = await lab.exec(lab.server, process.execPath, ['bin/knockgate.js', 'status', '--socket', `${dl.dir}/control.sock`, '--json']);
    const status = JSON.parse(out) as { gateCounters: Record<string, Record<string, number>> };
    expect(status.gateCounters['command']).toEqual({ commandsRun: 3, nonZeroExits: 1, timedOut: 0, refused: 0 });
  }, 30_000);
});
