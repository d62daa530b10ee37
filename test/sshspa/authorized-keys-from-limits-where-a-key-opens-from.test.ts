import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { doorTrusting, ed25519Key } from '../support/ssh-key-files.js';

/**
 * `from="pattern-list"` on an authorized_keys line, as sshd reads it: addresses, CIDRs and
 * wildcards, `!` refusing whatever else matches. A packet signed by the key from elsewhere is
 * refused with reason key-source, naming the source and the list, and who it was.
 */
const dir = mkdtempSync(join(tmpdir(), 'kg-from-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const now = Date.parse('2026-12-03T10:00:00Z');
const alice = ed25519Key(dir, 'alice');

it('opens from a matching address, CIDR or wildcard, and refuses a negated one and everything else', async () => {
  const decide = doorTrusting(`from="10.200.1.0/24,!10.200.1.66,192.0.2.7,10.200.2.*,fd00:200::/64" ${alice.publicLine}\n`);
  for (const src of ['10.200.1.2', '192.0.2.7', '10.200.2.99', 'fd00:200::5', '::ffff:10.200.1.3']) {
    expect((await decide(alice.file, src, now)).decoded, src).toBe(true);
  }
  for (const src of ['10.200.1.66', '192.0.2.8', '10.200.3.1', 'fd00:201::5']) {
    const refused = await decide(alice.file, src, now);
    expect(refused, src).toMatchObject({ decoded: false, refusal: { reason: 'key-source', detail: `source ${src} does not match the key's from="10.200.1.0/24,!10.200.1.66,192.0.2.7,10.200.2.*,fd00:200::/64"` }, identity: { kind: 'ssh-key', comment: 'alice@laptop' } });
  }
});

it('a list of negations alone admits nobody, as in sshd', async () => {
  const decide = doorTrusting(`from="!10.200.1.66" ${alice.publicLine}\n`);
  expect(await decide(alice.file, '10.200.1.2', now)).toMatchObject({ refusal: { reason: 'key-source' } });
});
