import { expect, it } from 'vitest';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { memoryDaemon, settle } from '../support/memory-daemon.js';

const SSH = `
[door.ssh]
sequence = ["7000"]
open = ["22/tcp"]
`;
const WEB = `
[door.web]
sequence = ["7100:udp"]
open = ["443/tcp"]
mode = "knockd"
`;

it('a reload reconfigures the capture and the doors, re-installs the gates and keeps live grants', async () => {
  const m = memoryDaemon(SSH);
  await m.daemon.start();
  m.sensor.knock('10.200.0.2', [{ proto: 'tcp', port: 7000 }]);
  await settle();

  await m.daemon.reload(parseKnockgateToml(WEB, 'memory.toml'));
  expect(m.sensor.watching).toMatchObject({ ports: [{ proto: 'udp', port: 7100 }], newConnections: false });
  expect(m.gate.installs).toBe(2);
  expect(m.lines.find((l) => l.outcome === 'reloaded')).toMatchObject({ doors: ['web'] });

  m.sensor.knock('10.200.0.3', [{ proto: 'tcp', port: 7000 }]);
  m.sensor.knock('10.200.0.4', [{ proto: 'udp', port: 7100 }]);
  await settle();
  expect(m.gate.granted.map((g) => `${g.door} ${g.src}`)).toEqual(['ssh 10.200.0.2', 'web 10.200.0.4']);
  expect((await m.daemon.status()).grants.map((g) => `${g.door} ${g.src} ${g.port}`).sort()).toEqual(['ssh 10.200.0.2 22/tcp', 'web 10.200.0.4 443/tcp']);
  await m.daemon.stop();
});

it('refuses a reload that changes [aws], before anything changes', async () => {
  const m = memoryDaemon(SSH);
  await m.daemon.start();
  const withAws = parseKnockgateToml(`${SSH}\n[aws]\nsecurity_groups = ["sg-0123456789abcdef0"]\n`, 'memory.toml');
  const before = m.sensor.watching;
  await expect(m.daemon.reload(withAws)).rejects.toThrow(/\[aws\] changed .* restart knockgate/);
  expect(m.sensor.watching).toEqual(before);
  expect(m.gate.installs).toBe(1);
  m.sensor.knock('10.200.0.2', [{ proto: 'tcp', port: 7000 }]);
  await settle();
  expect(m.gate.granted.map((g) => g.door)).toEqual(['ssh']);
  await m.daemon.stop();
});
