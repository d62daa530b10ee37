import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { createLab, type Lab } from '../src/lab/netns.js';

describe('namespace lab', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('joins client and server over IPv4 and IPv6', async () => {
    const out4 = await lab.exec(lab.client, 'ping', ['-c1', '-W2', lab.server.ip4]);
    expect(out4).toMatch(/1 received/);
    const out6 = await lab.exec(lab.client, 'ping', ['-6', '-c1', '-W2', lab.server.ip6]);
    expect(out6).toMatch(/1 received/);
  });

  it('removes its namespaces on destroy', async () => {
    const other = await createLab({ prefix: 'kgt' });
    const names = [other.server.ns, other.client.ns];
    expect(names.every((n) => existsSync(`/var/run/netns/${n}`))).toBe(true);
    await other.destroy();
    expect(names.some((n) => existsSync(`/var/run/netns/${n}`))).toBe(false);
  });
});
