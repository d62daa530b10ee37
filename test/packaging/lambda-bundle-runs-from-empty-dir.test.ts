import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sshSigner } from '../../src/client/ssh-signer.js';
import { SpaCodec } from '../../src/core/spa/index.js';
import { encodeSshSpa, formatDoorPublicKey, generateDoorKey, parseDoorPublicKey, rawX25519PrivateKey } from '../../src/core/sshspa/index.js';
import { formatDoorKeyFile } from '../../src/store/ssh-key-ring.js';
import { OWNER_TAG_KEY } from '../../src/gates/aws-sg-rules.js';
import type { FakeEc2 } from '../support/fake-ec2.js';
import { functionUrlEvent } from '../support/function-url-adapter.js';
import { receiverConfig, startLambdaFakes, type LambdaFakes } from '../support/lambda-fakes.js';
import { buildPackage, mustRun, REPO } from '../support/packaging.js';
import { ed25519Key } from '../support/ssh-key-files.js';

/**
 * `npm run package:lambda`'s zip unpacked into an empty directory, outside the repository (so no
 * module can come from its node_modules), and both handlers invoked from there the way Lambda
 * does: import the file the template's Handler names, call the export with an event.
 */
const SG = 'sg-0123456789abcdef0';
const TABLE = 'knockgate-replay';
// Keys of its own: the receiver refuses the published example keys.
const KEY = Buffer.alloc(32, 0x3c).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xc3).toString('base64');
const OPEN_FOR_S = 2;
const CONFIG = receiverConfig({ sg: SG, door: 'bastion', key: KEY, hmacKey: HMAC_KEY, openFor: `${OPEN_FOR_S}s`, extra: ['allow_ip = "source"'] });

let dir = '';
let release = '';
/** alice's key pair, and what KNOCKGATE_LAMBDA_FILES gives the build: an authorized_keys with her key. */
let keys = '';
let files = '';
let alice: { file: string; publicLine: string };
const doorKey = generateDoorKey(randomBytes);
let fakes: LambdaFakes | undefined;
let fake: FakeEc2;
let lambdaEnv: NodeJS.ProcessEnv;

/** The line the invoking script prints the handler's answer on, apart from the handler's JSON log lines. */
const ANSWER = 'ANSWER ';

/** Calls the bundle's `exported` handler with `event`, in a fresh Node process (a cold container) in the unpacked bundle. */
async function invoke(exported: 'handler' | 'sweepHandler', event: unknown): Promise<unknown> {
  const script = `const m = await import('./dist/aws/lambda-handler.js'); const a = await m[${JSON.stringify(exported)}](${JSON.stringify(event)}); process.stdout.write('\\n${ANSWER}' + JSON.stringify(a) + '\\n');`;
  const ran = await mustRun(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env: lambdaEnv, timeoutMs: 30_000 });
  expect(ran.stderr, 'nothing on stderr (no runtime warning)').toBe('');
  const line = ran.stdout.split('\n').find((l) => l.startsWith(ANSWER));
  expect(line, ran.stdout).toBeDefined();
  return JSON.parse(line!.slice(ANSWER.length));
}

beforeAll(async () => {
  release = mkdtempSync(join(tmpdir(), 'knockgate-lambda-release-'));
  keys = mkdtempSync(join(tmpdir(), 'knockgate-lambda-keys-'));
  files = mkdtempSync(join(tmpdir(), 'knockgate-lambda-files-'));
  alice = ed25519Key(keys, 'alice');
  writeFileSync(join(files, 'ops.authorized_keys'), `from="203.0.113.0/24" ${alice.publicLine}\n`);
  await buildPackage('lambda', release, { KNOCKGATE_LAMBDA_FILES: files });
  dir = mkdtempSync(join(tmpdir(), 'knockgate-lambda-'));
  await mustRun('unzip', ['-q', join(release, 'knockgate-lambda.zip'), '-d', dir]);
  fakes = await startLambdaFakes(TABLE);
  fake = fakes.ec2;
  // A Lambda's environment: the template's variables and AWS's own, nothing of this machine's Node set-up.
  // Beside the fwknop door, an SSH-key door: its key pair in the config, its authorized_keys a file of the zip.
  const sshDoor = ['[spa_door.ops]', `door_key_text = """\n${formatDoorKeyFile(doorKey, rawX25519PrivateKey(doorKey.privateKey))}"""`, `authorized_keys = "${join(dir, 'files', 'ops.authorized_keys')}"`, 'open = ["2022/tcp"]', ''];
  lambdaEnv = { PATH: '/usr/bin:/bin', ...fakes.env, KNOCKGATE_CONFIG: [CONFIG, ...sshDoor].join('\n'), KNOCKGATE_SECURITY_GROUPS: SG };
}, 240_000);

afterAll(async () => {
  await fakes?.stop();
  for (const d of [dir, release, keys, files]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('the Lambda bundle, unpacked into an empty directory', () => {
  it('is tested on the major Node.js version the template declares for the functions', () => {
    const template = readFileSync(join(REPO, 'deploy/aws/template.yaml'), 'utf8');
    const declared = /^ {2}Runtime:\n(?: {4}.*\n)*? {4}Default: nodejs(\d+)\.x$/m.exec(template)?.[1];
    expect(declared).toBe(process.versions.node.split('.')[0]);
  });

  it('is self-contained: no link, no native file, no capture addon', () => {
    const entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
    expect(entries.filter((p) => lstatSync(join(dir, p)).isSymbolicLink())).toEqual([]);
    expect(entries.filter((p) => p.endsWith('.node') || p.includes('knockgate-capture'))).toEqual([]);
    expect(entries).toContain(join('node_modules', '@aws-sdk', 'client-ec2', 'package.json'));
  });

  it('handler opens the Security Group for a valid packet; sweepHandler revokes the rule once it expired', async () => {
    const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } });
    const packet = codec.encode({ username: 'alice', request: { kind: 'access', allowIp: '203.0.113.7', ports: [{ proto: 'tcp', port: 22 }] } }, { now: Date.now() });
    const event = functionUrlEvent({ method: 'POST', path: '/', sourceIp: '203.0.113.7', body: packet });
    const answer = (await invoke('handler', event)) as { statusCode: number; body: string };
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.body).toMatch(/^open 22\/tcp for 203\.0\.113\.7 until /);
    const rules = fake.ingress(SG);
    expect(rules.map((r) => [r.cidrIpv4, r.fromPort, r.tags.get(OWNER_TAG_KEY)])).toEqual([['203.0.113.7/32', 22, 'knockgate']]);

    // The same packet again, from a fresh container: refused (the replay table in DynamoDB).
    expect(((await invoke('handler', event)) as { statusCode: number }).statusCode).toBe(403);

    await new Promise((resolve) => setTimeout(resolve, OPEN_FOR_S * 1000 + 1_100));
    const swept = (await invoke('sweepHandler', { source: 'aws.events', 'detail-type': 'Scheduled Event' })) as { groups: { revoked: number }[] };
    expect(swept.groups.map((g) => g.revoked)).toEqual([1]);
    expect(fake.ingress(SG)).toEqual([]);
  });

  it('serves an SSH-key door whose authorized_keys is a file KNOCKGATE_LAMBDA_FILES put in the zip, from= included', async () => {
    const packet = await encodeSshSpa({ ports: [{ proto: 'tcp', port: 2022 }] }, parseDoorPublicKey(formatDoorPublicKey(doorKey)), await sshSigner({ keyFile: alice.file }), { now: Date.now() });
    const post = (sourceIp: string) => functionUrlEvent({ method: 'POST', path: '/', sourceIp, body: packet, headers: { 'content-type': 'application/octet-stream' } });
    expect(((await invoke('handler', post('198.51.100.9'))) as { statusCode: number }).statusCode, 'outside from=').toBe(403);
    const answer = (await invoke('handler', post('203.0.113.8'))) as { statusCode: number; body: string };
    expect(answer.statusCode, answer.body).toBe(200);
    expect(fake.ingress(SG).map((r) => [r.cidrIpv4, r.fromPort])).toContainEqual(['203.0.113.8/32', 2022]);
  });
});
