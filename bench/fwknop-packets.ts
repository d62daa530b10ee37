import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../src/lab/netns.js';

/**
 * SPA packets made by the real fwknop 2.6.10 client (`fwknop -T -B`: build, self-check, save the
 * payload, send nothing), so both servers are measured on what operators actually send.
 */

export interface SpaKeys {
  key: string;
  hmacKey: string;
}

/** fwknop processes at once while making packets (each takes ~10 ms; 2 cores). */
const MAKERS = 4;

function fwknopArgs(keys: SpaKeys): string[] {
  // --no-rc-file/--no-save-args: nothing is read from or written to a home directory.
  return ['--no-rc-file', '--no-save-args', '--key-base64-rijndael', keys.key, '--key-base64-hmac', keys.hmacKey, '--use-hmac'];
}

export async function generateSpaKeys(home: string): Promise<SpaKeys> {
  const out = await run('env', [`HOME=${home}`, 'fwknop', '--no-rc-file', '--no-save-args', '--key-gen']);
  const key = /^KEY_BASE64:\s*(\S+)/m.exec(out)?.[1];
  const hmacKey = /^HMAC_KEY_BASE64:\s*(\S+)/m.exec(out)?.[1];
  if (!key || !hmacKey) throw new Error(`fwknop --key-gen printed no keys: ${out}`);
  return { key, hmacKey };
}

/** One valid, unique packet per source, asking for `access` (e.g. tcp/22) at `server`, allow IP = the source. */
export async function makeSpaPackets(keys: SpaKeys, sources: readonly string[], access: string, server: string): Promise<string[]> {
  const dir = await mkdtemp(join('/tmp', 'kgbench-fwknop-'));
  try {
    const packets: string[] = new Array(sources.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < sources.length; i = next++) {
        const file = join(dir, `spa-${i}`);
        await run('env', [`HOME=${dir}`, 'fwknop', ...fwknopArgs(keys), '-A', access, '-a', sources[i]!, '-D', server, '-T', '-B', file]);
        // -B writes the payload and a newline.
        packets[i] = (await readFile(file, 'utf8')).trim();
      }
    };
    await Promise.all(Array.from({ length: MAKERS }, worker));
    return packets;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * The same packet with one character inside its HMAC (the packet's tail) changed: right size and
 * alphabet, bad HMAC. Not the last character, whose low bits are padding in unpadded base64.
 */
export function withBadHmac(packet: string): string {
  const at = packet.length - 10;
  const old = packet[at];
  if (old === undefined || at < 0) throw new RangeError('packet too short to carry an HMAC');
  const swapped = B64[(B64.indexOf(old) + 1) % B64.length]!;
  return packet.slice(0, at) + swapped + packet.slice(at + 1);
}
