import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isKnockdLine, knockdFileLine, knockdSyslogLine } from '../../src/log/knockd-log-lines.js';
import { createLogger } from '../../src/log/logger.js';

describe("under a knockd.conf, the LogFile and syslog get knockd's formats", () => {
  it('a LogFile line is "[YYYY-MM-DD HH:MM] message" in local time, one line whatever the message holds', () => {
    const time = new Date(2026, 0, 5, 7, 3, 59).getTime();
    expect(knockdFileLine({ level: 30, time, msg: '10.0.0.2: ssh: OPEN SESAME', outcome: 'open' })).toBe('[2026-01-05 07:03] 10.0.0.2: ssh: OPEN SESAME\n');
    expect(knockdFileLine({ level: 30, time, msg: 'a\nforged line' })).toBe('[2026-01-05 07:03] a forged line\n');
  });

  it('syslog lines are daemon.notice as knockd writes them; knockgate\'s errors go at daemon.err', () => {
    expect(knockdSyslogLine({ level: 30, time: 0, msg: '10.0.0.2: ssh: Stage 1' })).toBe('<29>10.0.0.2: ssh: Stage 1\n');
    expect(knockdSyslogLine({ level: 40, time: 0, msg: 'ssh: command returned non-zero status code (3)' })).toBe('<29>ssh: command returned non-zero status code (3)\n');
    expect(knockdSyslogLine({ level: 50, time: 0, msg: 'gate failed' })).toBe('<27>gate failed\n');
  });

  it('only events (lines with an outcome), warnings and errors go there; details stay in the JSON log', () => {
    expect(isKnockdLine({ level: 30, time: 0, msg: 'capture started' })).toBe(false);
    expect(isKnockdLine({ level: 30, time: 0, msg: 'x: ssh: Stage 1', outcome: 'stage' })).toBe(true);
    expect(isKnockdLine({ level: 40, time: 0, msg: 'queue full' })).toBe(true);
  });

  it('a knockd-format logger writes knockd lines to its file and JSON nowhere', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kgt-knockdlog-'));
    try {
      const file = join(dir, 'knockd.log');
      const logger = createLogger({ file, knockdFormat: true });
      logger.info({ sensor: 'pcap' }, 'capture started');
      logger.info({ outcome: 'started' }, 'starting up, listening on eth0');
      logger.info({ outcome: 'stage', src: '10.0.0.2', door: 'ssh' }, '10.0.0.2: ssh: Stage 1');
      logger.debug({ outcome: 'reset' }, 'not at this level');
      const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d\] starting up, listening on eth0$/);
      expect(lines[1]).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d\] 10\.0\.0\.2: ssh: Stage 1$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
