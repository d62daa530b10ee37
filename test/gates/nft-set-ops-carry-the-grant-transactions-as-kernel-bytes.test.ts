import { describe, expect, it } from 'vitest';
import { GateError } from '../../src/gates/gate.js';
import { netlinkPath } from '../../src/gates/nft-netlink.js';
import { createOps, grantOps, natCreateOps, natGrantOps, natRevokeOps, revokeOps } from '../../src/gates/nft-set-ops.js';

const hex = (b: Buffer | undefined) => b?.toString('hex');

describe('netlink set-element ops: the same transactions as the nft text, keys as the kernel reads them', () => {
  it('a grant is add, delete, add with the timeout; each field of the key padded to 4 bytes', () => {
    const ops = grantOps('knockgate', [{ family: 4, src: '10.200.0.2', proto: 'tcp', port: 22 }], 2500.4);
    expect(ops.map((o) => [o.add, o.set, hex(o.key), o.keyEnd, o.timeoutMs])).toEqual([
      [true, 'grants4', '0ac80002' + '06000000' + '00160000', undefined, undefined],
      [false, 'grants4', '0ac80002' + '06000000' + '00160000', undefined, undefined],
      [true, 'grants4', '0ac80002' + '06000000' + '00160000', undefined, 2500],
    ]);
    expect(revokeOps('kg', [{ family: 6, src: 'fd00::2', proto: 'udp', port: 53 }]).map((o) => [o.add, o.table, o.set, hex(o.key)])).toEqual([
      [true, 'kg', 'grants6', 'fd000000000000000000000000000002' + '11000000' + '00350000'],
      [false, 'kg', 'grants6', 'fd000000000000000000000000000002' + '11000000' + '00350000'],
    ]);
  });

  it('a grant of a new element is first tried as one exclusive add with the timeout, for each element and both NAT sets', () => {
    const ops = createOps('kg', [{ family: 4, src: '10.200.0.2', proto: 'tcp', port: 22 }, { family: 4, src: '10.200.0.2', proto: 'udp', port: 53 }], 3000);
    expect(ops.map((o) => [o.add, o.exclusive, o.set, hex(o.key), o.timeoutMs])).toEqual([
      [true, true, 'grants4', '0ac80002' + '06000000' + '00160000', 3000],
      [true, true, 'grants4', '0ac80002' + '11000000' + '00350000', 3000],
    ]);
    const nat = natCreateOps('kg', { src: '10.200.0.2', proto: 'tcp', listen: 2222, host: '10.200.1.5', port: 22 }, 3000);
    expect(nat.map((o) => [o.exclusive, o.set, hex(o.data), o.timeoutMs])).toEqual([
      [true, 'nat4', '0ac80105' + '00160000', 3000],
      [true, 'forward4', undefined, 3000],
    ]);
    expect(grantOps('kg', [{ family: 4, src: '10.0.0.1', proto: 'tcp', port: 22 }], 1000).some((o) => o.exclusive)).toBe(false);
  });

  it('a prefix grant is a range in the nets set (network to its last address); a one-shot goes to the once set', () => {
    const [net] = grantOps('kg', [{ family: 4, src: '10.200.7.9', prefix: 20, proto: 'tcp', port: 2222 }], 1000);
    expect([net!.set, hex(net!.key), hex(net!.keyEnd)]).toEqual(['nets4', '0ac80000' + '06000000' + '08ae0000', '0ac80fff' + '06000000' + '08ae0000']);
    const [v6] = grantOps('kg', [{ family: 6, src: 'fd00:200::', prefix: 64, proto: 'tcp', port: 22 }], 1000);
    expect(hex(v6!.keyEnd)?.slice(0, 32)).toBe('fd00020000000000ffffffffffffffff');
    expect(grantOps('kg', [{ family: 4, src: '10.0.0.1', oneShot: true, proto: 'tcp', port: 22 }], 1000)[0]!.set).toBe('once4');
  });

  it('a NAT grant writes the DNAT map element (with its value) and the forward-set element', () => {
    const el = { src: '10.200.0.2', proto: 'tcp' as const, listen: 2222, host: '10.200.1.5', port: 22 };
    const ops = natGrantOps('kg', el, 5000);
    expect(ops.map((o) => [o.add, o.set, hex(o.key), hex(o.data), o.timeoutMs])).toEqual([
      [true, 'nat4', '0ac80002' + '06000000' + '08ae0000', '0ac80105' + '00160000', undefined],
      [false, 'nat4', '0ac80002' + '06000000' + '08ae0000', undefined, undefined],
      [true, 'nat4', '0ac80002' + '06000000' + '08ae0000', '0ac80105' + '00160000', 5000],
      [true, 'forward4', '0ac80002' + '0ac80105' + '06000000' + '00160000', undefined, undefined],
      [false, 'forward4', '0ac80002' + '0ac80105' + '06000000' + '00160000', undefined, undefined],
      [true, 'forward4', '0ac80002' + '0ac80105' + '06000000' + '00160000', undefined, 5000],
    ]);
    expect(natRevokeOps('kg', el).map((o) => [o.add, o.set])).toEqual([
      [true, 'nat4'],
      [false, 'nat4'],
      [true, 'forward4'],
      [false, 'forward4'],
    ]);
  });

  it('refuses what the nft text refuses', () => {
    expect(() => grantOps('a b', [], 1000)).toThrow(/invalid nft table name/);
    expect(() => grantOps('kg', [{ family: 4, src: 'fd00::1', proto: 'tcp', port: 22 }], 1000)).toThrow(/invalid IPv4 source/);
    expect(() => grantOps('kg', [{ family: 4, src: '10.0.0.1', proto: 'tcp', port: 0 }], 1000)).toThrow(GateError);
    expect(() => grantOps('kg', [{ family: 4, src: '10.0.0.1', proto: 'tcp', port: 22 }], 0)).toThrow(/invalid timeout/);
    expect(() => natGrantOps('kg', { src: 'fd00::1', proto: 'tcp', listen: 22, host: '10.0.0.1', port: 22 }, 1000)).toThrow(/NAT needs IPv4/);
  });

  it('uses netlink only where it can tell the namespace nft runs in', () => {
    expect(netlinkPath(['nft'], true)).toEqual({ kind: 'netlink' });
    expect(netlinkPath(['ip', 'netns', 'exec', 'lab1', 'nft'], true)).toEqual({ kind: 'netlink', netns: 'lab1' });
    expect(netlinkPath(['sudo', 'nft'], true)).toMatchObject({ kind: 'nft', reason: expect.stringMatching(/cannot tell/) });
    expect(netlinkPath(['ip', 'netns', 'exec', '../x', 'nft'], true).kind).toBe('nft');
    expect(netlinkPath(['nft'], false)).toMatchObject({ kind: 'nft', reason: expect.stringMatching(/KNOCKGATE_NFT_NETLINK=0/) });
  });
});
