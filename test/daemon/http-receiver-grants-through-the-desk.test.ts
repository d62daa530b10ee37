import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { SpaHttpReceiver } from '../../src/aws/spa-http-receiver.js';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { SpaCodec } from '../../src/core/spa/index.js';
import { MemoryReplayStore } from '../../src/store/memory-replay-store.js';
import { captureLogger } from '../support/command-gate-fixtures.js';
import { functionUrlEvent } from '../support/function-url-adapter.js';
import { MemoryGate } from '../support/memory-gate.js';
import { MemoryOutcomes } from '../support/memory-outcomes.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
// The receiver's door as the Lambda reads it from KNOCKGATE_CONFIG.
const [DOOR] = parseKnockgateToml(
  `[aws]\nsecurity_groups = ["sg-0123456789abcdef0"]\n\n[spa_door.laptops]\nkey_base64 = "${KEY}"\nhmac_key_base64 = "${HMAC}"\nopen = ["22/tcp"]\nopen_for = "60s"\ngate = "aws-sg"\n`,
  'KNOCKGATE_CONFIG',
).spa!.doors;

it('opens through the same desk as the daemon: open line, counts, and a gate failure answered 503', async () => {
  const codec = new SpaCodec(DOOR!.keys!);
  const packet = () => codec.encode({ username: 'bob', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: 22 }] } }, { now: Date.now() });
  const event = () => functionUrlEvent({ method: 'POST', path: '/', sourceIp: '198.51.100.7', body: packet() });
  const { logger, lines } = captureLogger();
  const gate = new MemoryGate('aws-sg');
  const outcomes = new MemoryOutcomes();
  const receiver = new SpaHttpReceiver({ doors: [{ codec, rules: DOOR!.rules }], replay: new MemoryReplayStore(), gate, logger, outcomes });

  const ok = await receiver.handle(event(), Date.now());
  expect(ok.statusCode).toBe(200);
  expect(gate.granted).toMatchObject([{ door: 'laptops', src: '198.51.100.7', ports: [{ proto: 'tcp', port: 22 }], identity: { kind: 'door', door: 'laptops' } }]);
  expect(lines.find((l) => l.outcome === 'open')).toMatchObject({
    door: 'laptops',
    src: '198.51.100.7',
    gate: 'aws-sg',
    ports: ['22/tcp'],
    open_for_s: 60,
    identity: 'door laptops',
    until: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    msg: '198.51.100.7: laptops: SPA access granted to 22/tcp',
  });
  expect(outcomes.total('open', { door: 'laptops', gate: 'aws-sg' })).toBe(1);

  gate.failWith(new Error('UnauthorizedOperation'));
  const failed = await receiver.handle(event(), Date.now());
  expect(failed.statusCode).toBe(503);
  expect(lines.find((l) => l.outcome === 'gate-error')).toMatchObject({ door: 'laptops', err: 'UnauthorizedOperation' });
  expect(outcomes.total('gate-error', { door: 'laptops' })).toBe(1);
});
