import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import { buildKnockCli, type KnockCli } from './support/knock-cli.js';
import { startCapture, type CapturedPacket } from './support/tcpdump-capture.js';

/** What a hit looks like on the wire, without the parts that differ from run to run (ports, times). */
function shape(p: CapturedPacket): string {
  return p.proto === 'tcp' ? `tcp ${p.dstPort} [${p.flags}] len ${p.length}` : `udp ${p.dstPort} len ${p.length}`;
}

describe('knockgate knock on the wire', () => {
  let lab: Lab;
  let cli: KnockCli;
  const fromClient = (p: CapturedPacket): boolean => p.src === lab.client.ip4 || p.src === lab.client.ip6;

  beforeAll(async () => {
    cli = await buildKnockCli();
    lab = await createLab({ prefix: 'kgt' });
    // 7000/tcp is filtered (dropped without an answer): the case where a careless client retransmits.
    // 9000/tcp is closed: the server answers RST. Nothing listens on any port.
    await lab.exec(lab.server, 'nft', ['-f', '-'], {
      input: 'table inet kgt_wire {\n chain input {\n type filter hook input priority 0; policy accept;\n tcp dport 7000 drop\n }\n}\n',
    });
  });
  afterAll(async () => {
    await lab?.destroy();
    await cli?.dispose();
  });

  it('sends exactly one SYN per TCP hit and one 1-byte datagram per UDP hit, in order (IPv4)', async () => {
    const capture = await startCapture(lab, lab.server);
    const result = await cli.run(lab.client, ['-v', lab.server.ip4, '7000', '8000:udp', '9000']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`hitting tcp ${lab.server.ip4}:7000\nhitting udp ${lab.server.ip4}:8000\nhitting tcp ${lab.server.ip4}:9000\n`);

    const packets = await capture.stopAfter(3, fromClient);
    expect(packets.filter(fromClient).map(shape)).toEqual(['tcp 7000 [S] len 0', 'udp 8000 len 1', 'tcp 9000 [S] len 0']);
    // The closed port did answer (so the RST case was exercised) and the filtered one did not.
    const answers = packets.filter((p) => p.src === lab.server.ip4).map((p) => `${p.proto} from ${p.srcPort} [${p.flags}]`);
    expect(answers).toEqual(['tcp from 9000 [R.]']);
  });

  it('does the same over IPv6 with -6', async () => {
    const capture = await startCapture(lab, lab.server);
    const result = await cli.run(lab.client, ['-6', '-v', lab.server.ip6, '7000', '8000:udp', '9000']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`hitting tcp ${lab.server.ip6}:7000\nhitting udp ${lab.server.ip6}:8000\nhitting tcp ${lab.server.ip6}:9000\n`);

    const packets = await capture.stopAfter(3, fromClient);
    const hits = packets.filter(fromClient);
    expect(hits.map(shape)).toEqual(['tcp 7000 [S] len 0', 'udp 8000 len 1', 'tcp 9000 [S] len 0']);
    expect(hits.every((p) => p.family === 6 && p.src === lab.client.ip6)).toBe(true);
  });

  it('puts on the wire exactly what knockd\'s own knock client does', async () => {
    const args = [lab.server.ip4, '7000', '8000:udp', '9000:tcp', '7100:UDP'];
    const theirs = await startCapture(lab, lab.server);
    await lab.exec(lab.client, 'knock', args);
    const reference = (await theirs.stopAfter(4, fromClient)).filter(fromClient).map(shape);

    const ours = await startCapture(lab, lab.server);
    const result = await cli.run(lab.client, args);
    expect(result.code).toBe(0);
    // knock reads "7100:UDP" as TCP; we knock the same but say so.
    expect(result.stderr).toContain('7100:UDP');
    const sent = (await ours.stopAfter(4, fromClient)).filter(fromClient).map(shape);

    expect(reference).toEqual(['tcp 7000 [S] len 0', 'udp 8000 len 1', 'tcp 9000 [S] len 0', 'tcp 7100 [S] len 0']);
    expect(sent).toEqual(reference);
  });

  it('makes every hit UDP with -u, whatever the suffix', async () => {
    const capture = await startCapture(lab, lab.server);
    const result = await cli.run(lab.client, ['-u', lab.server.ip4, '7000:tcp', '9000']);
    expect(result.code).toBe(0);
    const packets = await capture.stopAfter(2, fromClient);
    expect(packets.filter(fromClient).map(shape)).toEqual(['udp 7000 len 1', 'udp 9000 len 1']);
  });

  it('waits -d milliseconds between hits', async () => {
    const delayMs = 400;
    const capture = await startCapture(lab, lab.server);
    const result = await cli.run(lab.client, ['-d', String(delayMs), lab.server.ip4, '7000', '8000:udp', '9000']);
    expect(result.code).toBe(0);
    const hits = (await capture.stopAfter(3, fromClient)).filter(fromClient);
    expect(hits.map(shape)).toEqual(['tcp 7000 [S] len 0', 'udp 8000 len 1', 'tcp 9000 [S] len 0']);
    // Capture timestamps on the server; a generous slack for scheduling, no upper bound.
    for (let i = 1; i < hits.length; i++) {
      expect((hits[i]!.time - hits[i - 1]!.time) * 1000).toBeGreaterThanOrEqual(delayMs - 50);
    }
  });

  it('rejects a bad argument with exit code 2, naming it, before sending anything', async () => {
    const capture = await startCapture(lab, lab.server);
    const cases: [string[], string][] = [
      [[lab.server.ip4, '7000', '0'], '"0"'],
      [[lab.server.ip4, '7000', '65536:udp'], '"65536:udp"'],
      [[lab.server.ip4, 'http'], '"http"'],
      [['-d', 'soon', lab.server.ip4, '7000'], '"soon"'],
      [['-4', '-6', lab.server.ip4, '7000'], '-4/--ipv4'],
      [[lab.server.ip4], 'give the ports to knock'],
      [['--port', '7', lab.server.ip4, '7000'], "unknown option '--port'"],
    ];
    for (const [args, named] of cases) {
      const result = await cli.run(lab.client, args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain(named);
    }
    // A knock that cannot be resolved is not a usage error: exit 1.
    const unresolved = await cli.run(lab.client, ['-6', lab.server.ip4, '7000']);
    expect(unresolved.code).toBe(1);
    expect(unresolved.stderr).toMatch(/IPv4 address, but IPv6/);

    // One good knock afterwards: it must be the only thing the server saw.
    expect((await cli.run(lab.client, [lab.server.ip4, '7100'])).code).toBe(0);
    const packets = await capture.stopAfter(1, fromClient, { settleMs: 300 });
    expect(packets.filter(fromClient).map(shape)).toEqual(['tcp 7100 [S] len 0']);
  });
});
