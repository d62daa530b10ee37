import { grantId, type Grant } from '../../src/core/grant.js';
import { IptablesGate } from '../../src/gates/iptables.js';
import { changeBatch, lastSecondOf, type GrantRule } from '../../src/gates/iptables-rules.js';
import { NftablesGate } from '../../src/gates/nftables.js';
import { run } from '../../src/lab/netns.js';
import type { BenchLab } from '../bench-lab.js';
import { SCALE_PORTS } from '../bench-lab.js';

/** Grants live for the whole phase. */
const GRANT_MS = 10 * 60_000;
/** nft adds in flight at once while filling (the interactive nft works through them in order). */
const FILL_CHUNK = 100;
/** The lab's nft may be slow right after a flood filled conntrack; a fill command may take this long. */
const NFT_COMMAND_TIMEOUT_MS = 30_000;
/** iptables adds are a process each and slow down with the chain; fewer samples of them. */
const IPTABLES_ADD_SAMPLES = 20;

export interface ScaleSamples {
  grants: number;
  nftAddEmptyMs: number[];
  nftAddManyMs: number[];
  iptablesAddEmptyMs: number[];
  iptablesAddManyMs: number[];
  /** Handshake times, alternating over the three ports, with one grant in every gate (control). */
  connectBefore: Connects;
  /** The same once nftMany holds `grants` (iptables still holds one). */
  connectNftMany: Connects;
  /**
   * The same once iptables holds `grants` too. iptables judges every new connection against its
   * whole grant chain, whatever the port, so here every port pays for it: the iptables figure is
   * this run's iptablesMany against connectBefore's, not against another port.
   */
  connectIptablesMany: Connects;
}

type Connects = Record<'nftOne' | 'nftMany' | 'iptablesMany', number[]>;

/** Fake grantees for filling: 10.200.100.0 … (inside the lab's range; they never send anything). */
function fakeSource(i: number): string {
  return `10.200.${100 + Math.floor(i / 256)}.${i % 256}`;
}

function grantOf(src: string, port: number, now: number): Grant {
  return { id: grantId('scale', src), door: 'scale', src, family: 4, ports: [{ proto: 'tcp', port }], grantedAt: now, expiresAt: now + GRANT_MS };
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/**
 * 10,000 live grants: the cost of adding one more, and the handshake time of a granted client,
 * each against the same gate with one grant. Three gates side by side in the server namespace
 * (nftables with one grant, nftables filled, iptables filled), each guarding its own port, so the
 * connects alternate between them in one run.
 */
export async function measureGrantsScale(bl: BenchLab, grants: number, samples: number): Promise<ScaleSamples> {
  const ns = bl.lab.server.ns;
  const client = bl.lab.client.ip4;
  const nftCommand = ['ip', 'netns', 'exec', ns, 'nft'];
  const nftSettings = (table: string) => ({ table, mark: 0x4b50, onStop: 'remove' as const });
  const nftGate = (table: string, port: number) =>
    new NftablesGate({ settings: nftSettings(table), protectedPorts: [{ proto: 'tcp', port }], nftCommand, commandTimeoutMs: NFT_COMMAND_TIMEOUT_MS });
  const nftOne = nftGate('kgb_one', SCALE_PORTS.nftOne);
  const nftMany = nftGate('kgb_many', SCALE_PORTS.nftMany);
  const iptSettings = { chain: 'KGBENCH', iptables: 'iptables', ip6tables: 'ip6tables', onStop: 'remove' as const };
  const iptOptions = { settings: iptSettings, protectedPorts: [{ proto: 'tcp' as const, port: SCALE_PORTS.iptablesMany }], commandPrefix: ['ip', 'netns', 'exec', ns], maxGrantRules: grants + 2 * samples + 16 };
  let ipt = new IptablesGate(iptOptions);
  const gates = [nftOne, nftMany, ipt];
  try {
    for (const g of gates) await g.install();
    const now = Date.now();
    const connects = async () => {
      const a = await bl.agent.ask({ op: 'connect-times', src: client, target: bl.lab.server.ip4, ports: [SCALE_PORTS.nftOne, SCALE_PORTS.nftMany, SCALE_PORTS.iptablesMany], rounds: samples });
      if (!a.ok || !a.times) throw new Error(`connects failed: ${a.ok ? 'no times' : a.error}`);
      return { nftOne: a.times[0]!, nftMany: a.times[1]!, iptablesMany: a.times[2]! };
    };
    await nftOne.grant(grantOf(client, SCALE_PORTS.nftOne, now));
    await nftMany.grant(grantOf(client, SCALE_PORTS.nftMany, now));
    await ipt.grant(grantOf(client, SCALE_PORTS.iptablesMany, now));
    const connectBefore = await connects();

    let next = 0;
    const addTimes = async (gate: NftablesGate | IptablesGate, port: number, n: number): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const g = grantOf(fakeSource(next++), port, Date.now());
        times.push(await timed(() => gate.grant(g)));
      }
      return times;
    };
    const nftAddEmptyMs = await addTimes(nftMany, SCALE_PORTS.nftMany, samples);
    const iptablesAddEmptyMs = await addTimes(ipt, SCALE_PORTS.iptablesMany, IPTABLES_ADD_SAMPLES);

    // Fill to `grants` live: nft through its interactive process, iptables in one restore batch.
    const fillFrom = next;
    const fillTo = grants - samples;
    for (let i = 0; i < fillTo; i += FILL_CHUNK) {
      const chunk = Array.from({ length: Math.min(FILL_CHUNK, fillTo - i) }, (_, k) => grantOf(fakeSource(fillFrom + i + k), SCALE_PORTS.nftMany, now));
      await Promise.all(chunk.map((g) => nftMany.grant(g)));
    }
    next = fillFrom + fillTo;
    const nftAddManyMs = await addTimes(nftMany, SCALE_PORTS.nftMany, samples);
    const connectNftMany = await connects();

    const lastSecond = lastSecondOf(now + GRANT_MS, now);
    const rules: GrantRule[] = Array.from({ length: grants - IPTABLES_ADD_SAMPLES }, (_, k) => ({ family: 4, src: fakeSource(fillFrom + k), proto: 'tcp', port: SCALE_PORTS.iptablesMany, lastSecond }));
    await run('ip', ['netns', 'exec', ns, 'iptables-restore', '--noflush'], { input: changeBatch(iptSettings.chain, rules, []), timeoutMs: 120_000 });
    next = fillFrom + grants;
    // A fresh gate object reads the filled chain from the kernel; the client's rule goes last (worst case for a list).
    ipt = new IptablesGate(iptOptions);
    gates[2] = ipt;
    await ipt.revoke(grantOf(client, SCALE_PORTS.iptablesMany, now));
    await ipt.grant(grantOf(client, SCALE_PORTS.iptablesMany, now));

    const iptablesAddManyMs = await addTimes(ipt, SCALE_PORTS.iptablesMany, IPTABLES_ADD_SAMPLES);
    const connectIptablesMany = await connects();
    return { grants, nftAddEmptyMs, nftAddManyMs, iptablesAddEmptyMs, iptablesAddManyMs, connectBefore, connectNftMany, connectIptablesMany };
  } finally {
    for (const g of gates) await g.uninstall().catch(() => undefined);
  }
}
