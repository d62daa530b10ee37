import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogBudget } from '../../src/log/log-budget.js';
import { createLogger } from '../../src/log/logger.js';
import { RefusalRing } from '../../src/metrics/refusal-ring.js';
import { memoryDaemon, settle, type MemoryDaemon } from '../support/memory-daemon.js';

const TOML = `
[door.ssh]
sequence = ["7000", "8000:udp", "9000"]
seq_timeout = "10s"
open = ["22/tcp"]
`;
const PER_SECOND = 10;

describe('a wrong knock is logged at info, bounded by the log budget, and every one is counted', () => {
  let m: MemoryDaemon | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await m?.daemon.stop();
    m = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function start(now: () => number): Promise<{ file: string; ring: RefusalRing }> {
    dir = await mkdtemp(join(tmpdir(), 'kgt-wrong-'));
    const file = join(dir, 'log.jsonl');
    const ring = new RefusalRing();
    const logger = createLogger({ file, format: 'json', level: 'info', budget: new LogBudget(PER_SECOND, now) });
    m = memoryDaemon(TOML, { logger, outcomes: ring });
    await m.daemon.start();
    return { file, ring };
  }
  const read = async (file: string) =>
    (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('one wrong knock after the first: an info line with its stage, and a refusal in the ring', async () => {
    const { file, ring } = await start(Date.now);
    m!.sensor.knock('10.200.0.2', [
      { proto: 'tcp', port: 7000 },
      { proto: 'tcp', port: 7777 },
    ]);
    await settle();
    const wrong = (await read(file)).filter((l) => l.reason === 'wrong-knock');
    expect(wrong).toEqual([expect.objectContaining({ level: 30, outcome: 'reset', door: 'ssh', src: '10.200.0.2', stage: 1, msg: '10.200.0.2: ssh: wrong knock (stage 1)' })]);
    expect(ring.recent()).toEqual([expect.objectContaining({ reason: 'wrong-knock', src: '10.200.0.2', door: 'ssh' })]);
  });

  it('a burst writes the budget of wrong-knock lines and one summary, and counts every one', async () => {
    let now = 0;
    const { file, ring } = await start(() => now);
    const sources = Array.from({ length: 60 }, (_, i) => `10.200.1.${i + 1}`);
    for (const src of sources) {
      m!.sensor.knock(src, [
        { proto: 'tcp', port: 7000 },
        { proto: 'udp', port: 8000 },
        { proto: 'tcp', port: 7777 },
      ]);
    }
    now = 1_000;
    // After the second: the next wrong knock brings the summary first, and is written itself.
    m!.sensor.knock('10.200.2.1', [
      { proto: 'tcp', port: 7000 },
      { proto: 'tcp', port: 7777 },
    ]);
    await settle();
    const lines = await read(file);
    const wrong = lines.filter((l) => l.reason === 'wrong-knock');
    expect(wrong).toHaveLength(PER_SECOND + 1);
    expect(wrong.map((l) => [l.level, l.stage])).toEqual([...Array.from({ length: PER_SECOND }, () => [30, 2]), [30, 1]]);
    expect(lines.find((l) => l.outcome === 'suppressed')).toMatchObject({ kind: 'reset:wrong-knock', suppressed: sources.length - PER_SECOND, level: 40 });
    expect(ring.recent().filter((r) => r.reason === 'wrong-knock')).toHaveLength(sources.length + 1);
  });
});
