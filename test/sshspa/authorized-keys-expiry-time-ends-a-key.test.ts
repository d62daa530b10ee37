import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { doorTrusting, ed25519Key } from '../support/ssh-key-files.js';

/** `expiry-time="timespec"` on an authorized_keys line: the key opens until then, and is refused after with reason key-expired. */
const dir = mkdtempSync(join(tmpdir(), 'kg-expiry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const alice = ed25519Key(dir, 'alice');

it('opens before the expiry time (UTC with Z) and is refused after it, naming when it ended', async () => {
  const decide = doorTrusting(`expiry-time="202612031200Z",no-pty ${alice.publicLine}\n`);
  expect((await decide(alice.file, '10.200.1.2', Date.parse('2026-12-03T11:59:00Z'))).decoded).toBe(true);
  expect(await decide(alice.file, '10.200.1.2', Date.parse('2026-12-03T12:00:01Z'))).toMatchObject({
    decoded: false,
    refusal: { reason: 'key-expired', detail: "the key's expiry-time passed at 2026-12-03T12:00:00.000Z" },
    identity: { kind: 'ssh-key', comment: 'alice@laptop' },
  });
});

it('reads a date alone as its first moment', async () => {
  const decide = doorTrusting(`expiry-time="20261203Z" ${alice.publicLine}\n`);
  expect(await decide(alice.file, '10.200.1.2', Date.parse('2026-12-03T00:00:01Z'))).toMatchObject({ refusal: { reason: 'key-expired' } });
});
