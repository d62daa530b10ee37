import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogBudget, MAX_LOG_KINDS, OTHER_KIND } from '../../src/log/log-budget.js';
import { createLogger, logStats } from '../../src/log/logger.js';

describe('the log writes at most a budget of each kind of line a second, and says how many it left out', () => {
  it('passes the budget, counts the rest, and hands the count over when the kind\'s second is over', () => {
    let now = 0;
    const budget = new LogBudget(5, () => now);
    const ended: Array<{ kind: string; count: number }> = [];
    const passed = Array.from({ length: 20 }, () => budget.take('stage', (s) => ended.push(s))).filter(Boolean).length;
    expect(passed).toBe(5);
    expect(budget.take('open')).toBe(true);
    expect(ended).toEqual([]);
    now = 1_000;
    expect(budget.take('stage', (s) => ended.push(s))).toBe(true);
    expect(ended).toEqual([{ kind: 'stage', count: 15, since: 0 }]);
    expect(budget.suppressedTotal).toBe(15);
  });

  it('drain() reports kinds that went quiet after a burst, once', () => {
    let now = 0;
    const budget = new LogBudget(2, () => now);
    for (let i = 0; i < 10; i++) budget.take('reset');
    expect(budget.drain()).toEqual([]);
    now = 1_500;
    expect(budget.drain()).toEqual([{ kind: 'reset', count: 8, since: 0 }]);
    expect(budget.drain()).toEqual([]);
  });

  it('kinds past the bound share one budget instead of growing the table', () => {
    const budget = new LogBudget(1, () => 0);
    for (let i = 0; i < MAX_LOG_KINDS; i++) expect(budget.take(`kind ${i}`)).toBe(true);
    expect(budget.take('one more')).toBe(true);
    expect(budget.take('and another')).toBe(false);
    expect(budget.take(OTHER_KIND)).toBe(false);
  });

  it('a logger under a burst of one kind writes its budget and one summary line, and counts the rest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kgt-log-'));
    try {
      let now = 0;
      const file = join(dir, 'log.jsonl');
      const logger = createLogger({ file, format: 'json', budget: new LogBudget(10, () => now) });
      for (let i = 0; i < 1_000; i++) logger.info({ outcome: 'stage', src: `10.9.${i >> 8}.${i & 255}` }, `10.9.${i >> 8}.${i & 255}: ssh: Stage 1`);
      logger.info({ outcome: 'open' }, 'one open');
      now = 1_000;
      logger.info({ outcome: 'stage' }, 'after the second');
      const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.filter((l) => l['outcome'] === 'stage')).toHaveLength(11);
      expect(lines.filter((l) => l['outcome'] === 'open')).toHaveLength(1);
      expect(lines.find((l) => l['outcome'] === 'suppressed')).toMatchObject({ kind: 'stage', suppressed: 990, level: 40 });
      expect(logStats(logger).suppressed).toBe(990);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
