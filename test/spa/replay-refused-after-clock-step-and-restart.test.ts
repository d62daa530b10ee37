import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';
import { fakeWallClock } from '../support/faketime.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const PORT = 62301;

describe('a used SPA packet stays refused across a wall-clock step and a restart', () => {
  let dl: DaemonLab;
  let offset: string;
  let config: string;
  const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
  const send = (payload: string) =>
    dl.lab.exec(dl.lab.client, process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');s.send(process.argv[2],${PORT},process.argv[1],()=>s.close())`, dl.lab.server.ip4, payload]);
  const serve = async () => {
    await writeFile(join(dl.dir, 'knockgate.toml'), config);
    await dl.serveWith(['--config', join(dl.dir, 'knockgate.toml')], fakeWallClock(offset));
  };

  beforeAll(async () => {
    dl = await createDaemonLab();
    offset = join(dl.dir, 'clock-offset');
    await writeFile(offset, '+0\n');
    config = labConfig(dl.dir, `[spa_door.ssh]\nkey_base64 = "${KEY}"\nhmac_key_base64 = "${HMAC}"\nopen = ["${SERVICE_PORT}/tcp"]\n`, `[spa]\nsensor = "udp"\nport = ${PORT}\n`, 'info');
    await serve();
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('a clock stepped 10 minutes ahead, a restart, the clock stepped back: the packet is refused as a replay', async () => {
    const payload = codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
    await send(payload);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === dl.lab.client.ip4, 5_000, 'the first open');

    // NTP (or an operator) steps the clock ahead; the daemon restarts meanwhile.
    await dl.stopDaemon();
    await writeFile(offset, '+600\n');
    dl.logLines.length = 0;
    await serve();
    // Its clock reads ten minutes ahead (log lines carry the daemon's time); let a sweep see it so.
    expect(Number(dl.logLines.map((l) => JSON.parse(l) as { time: number }).at(-1)!.time) - Date.now()).toBeGreaterThan(590_000);
    await new Promise((r) => setTimeout(r, 1_500));
    // The step is corrected while it runs: it notices the jump against the monotonic clock.
    await writeFile(offset, '+0\n');
    const step = await dl.waitForLog((e) => e.outcome === 'clock-step', 5_000, 'the clock step');
    expect(Number(step.step_ms)).toBeLessThan(-590_000);

    await send(payload);
    await dl.waitForLog((e) => e.outcome === 'refused' && e.reason === 'replay', 5_000, 'the replay refused');
    expect(dl.logLines.some((l) => l.includes('"outcome":"open"'))).toBe(false);
  }, 60_000);
});
