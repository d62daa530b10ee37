import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import { GateError } from '../src/gates/gate.js';
import { NftProcess } from '../src/gates/nft-process.js';
import { grantFor, makeGate, nftIn } from './nftables-lab.js';
import { processAlive } from './support/gate-lab.js';

describe('long-lived nft process', () => {
  let lab: Lab;
  const procs: NftProcess[] = [];

  function proc(opts: ConstructorParameters<typeof NftProcess>[0] = {}): NftProcess {
    const p = new NftProcess({ command: nftIn(lab.server), ...opts });
    procs.push(p);
    return p;
  }

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
    await lab.exec(lab.server, 'nft', ['add table inet t; add set inet t s { type inet_service; }']);
  }, 30_000);

  afterAll(async () => {
    for (const p of procs) await p.close().catch(() => undefined);
    await lab?.destroy();
  });

  it('tells each command’s success, output and failure apart, and stays in step after a failure', async () => {
    const nft = proc();
    await expect(nft.run('add element inet t s { 22 }')).resolves.toBe('');
    const err = await nft.run('add element inet t nosuch { 22 }').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).command).toBe('add element inet t nosuch { 22 }');
    expect((err as GateError).stderr).toMatch(/Error: No such file or directory/);
    expect(await nft.run('list set inet t s')).toMatch(/elements = \{ 22 \}/);
  }, 20_000);

  it('answers pipelined commands in order, each with its own outcome', async () => {
    const nft = proc();
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => nft.run(i % 2 === 0 ? `add element inet t s { ${1000 + i} }` : `add element inet t missing { ${i} }`)),
    );
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 'fulfilled' : 'rejected')));
    expect((await nft.run('list set inet t s')).match(/\b1\d\d\d\b/g)).toHaveLength(100);
  }, 20_000);

  it('applies a line of several commands as one transaction', async () => {
    const nft = proc();
    await expect(nft.run('add element inet t s { 7 }; delete element inet t s { 8 }')).rejects.toThrow(GateError);
    expect(await nft.run('list set inet t s')).not.toMatch(/\b7\b/);
  }, 20_000);

  it('refuses commands beyond its queue bound with a GateError', async () => {
    const nft = proc({ maxPending: 8 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => nft.run(`add element inet t s { ${3000 + i} }`)));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as GateError);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(8);
    expect(refused).toHaveLength(12);
    expect(refused.every((e) => e instanceof GateError && /queue full \(8 pending\)/.test(e.message))).toBe(true);
    await expect(nft.run('add element inet t s { 3999 }')).resolves.toBe('');
  }, 20_000);

  it('kills an nft that does not answer in time and fails its command', async () => {
    const stuck = proc({ command: ['ip', 'netns', 'exec', lab.server.ns, 'sh', '-c', 'exec sleep 30'], commandTimeoutMs: 300 });
    const pending = stuck.run('list ruleset');
    const pid = stuck.pid!;
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/did not answer within 300 ms/);
    for (let i = 0; i < 50 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(processAlive(pid)).toBe(false);
    expect(stuck.pid).toBeUndefined();
  }, 20_000);

  it('starts a new nft when the old one died', async () => {
    const nft = proc();
    await nft.run('list set inet t s');
    const first = nft.pid!;
    process.kill(first, 'SIGKILL');
    for (let i = 0; i < 50 && nft.pid !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
    await expect(nft.run('add element inet t s { 4000 }')).resolves.toBe('');
    expect(nft.pid).toBeTypeOf('number');
    expect(nft.pid).not.toBe(first);
  }, 20_000);

  it('runs a one-shot script and reports nft’s located error', async () => {
    const nft = proc();
    await expect(nft.runScript('add element inet t s { 5000 }\nadd element inet t s { 5001 }\n')).resolves.toBe('');
    const err = await nft.runScript('add element inet t s { 5002 }\nadd element inet t nope { 1 }\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/stdin:2:.*Error: No such file or directory/);
    expect(await nft.run('list set inet t s')).not.toMatch(/5002/);
  }, 20_000);

  it('refuses output beyond its bound, one-shot and interactive, and keeps working', async () => {
    const nft = proc({ maxOutputBytes: 200 });
    await nft.run(`add element inet t s { ${Array.from({ length: 100 }, (_, i) => 6000 + i).join(', ')} }`);
    await expect(nft.runOnce(['list', 'set', 'inet', 't', 's'])).rejects.toThrow(/output exceeded 200 bytes/);
    await expect(nft.run('list set inet t s')).rejects.toThrow(/output exceeded 200 bytes/);
    await expect(nft.run('add element inet t s { 6999 }')).resolves.toBe('');
  }, 20_000);

  it('refuses one-shot runs beyond its bound of concurrent nft processes', async () => {
    const nft = proc({ maxOneShotRuns: 3 });
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => nft.runOnce(['list', 'set', 'inet', 't', 's'])));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as Error);
    expect(refused.map((e) => e.message)).toEqual([expect.stringMatching(/too many nft runs at once \(3\)/), expect.stringMatching(/too many/)]);
    await expect(nft.runOnce(['list', 'set', 'inet', 't', 's'])).resolves.toMatch(/set s/);
  }, 20_000);

  it('grants through the gate at sub-millisecond median latency (measured, reported, not asserted)', async () => {
    const gate = makeGate(lab);
    await gate.install();
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const started = performance.now();
      await gate.grant(grantFor(`10.201.${i >> 8}.${i & 255}`, 4, 60_000));
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    console.log(`nftables grant latency over 1000 grants: median ${times[500]!.toFixed(3)} ms, p99 ${times[990]!.toFixed(3)} ms`);
    expect(await gate.list()).toHaveLength(1000);
    await gate.uninstall();
  }, 60_000);
});
