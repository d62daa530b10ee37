import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { CLI } from '../src/lab/lab-demo.js';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';
import { sequenceFor } from '../src/core/time-sequence.js';

describe('keygen --door-secret', () => {
  it('prints a door the config reader accepts and a client command that derives the same sequence', () => {
    const made = JSON.parse(execFileSync(process.execPath, [CLI, 'keygen', '--door-secret', '--name', 'totp', '-A', 'tcp/22', '--json'], { encoding: 'utf8' })) as {
      door_secret_base64: string;
      knockgate_door: string;
    };
    expect(Buffer.from(made.door_secret_base64, 'base64')).toHaveLength(32);
    const config = parseKnockgateToml(made.knockgate_door, 'snippet.toml');
    expect(config.doors[0]?.sequenceSource?.kind).toBe('time');
    expect(config.doors[0]?.action).toMatchObject({ open: [{ port: 22, proto: 'tcp' }] });
    const source = config.doors[0]?.sequenceSource;
    if (source?.kind !== 'time') throw new Error('not a time-derived door');
    const client = JSON.parse(execFileSync(process.execPath, [CLI, 'sequence', '--json', '--door-secret', made.door_secret_base64], { encoding: 'utf8' })) as { sequence: string; step: number };
    const serverSide = sequenceFor(source.spec, client.step).map((s) => (s.proto === 'udp' ? `${s.port}:udp` : String(s.port)));
    expect(client.sequence.split(' ')).toEqual(serverSide);
  });
});
