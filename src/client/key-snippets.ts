import type { GeneratedSpaKeys } from '../core/spa/index.js';

/** What the snippets describe besides the keys: names and the access they grant. */
export interface SnippetContext {
  /** The rc stanza and knockgate door name. */
  name: string;
  /** SPA_SERVER in the rc stanza. */
  server: string;
  /** fwknop's form, e.g. `tcp/22` or `tcp/22,udp/53`. */
  access: string;
}

/** Ready-to-paste configuration for both ends, each in its own file's syntax. */
export interface KeySnippets {
  fwknoprc: string;
  accessConf: string;
  knockgateDoor: string;
}

export function keySnippets(keys: GeneratedSpaKeys, ctx: SnippetContext): KeySnippets {
  const fwknoprc = [
    `[${ctx.name}]`,
    `SPA_SERVER          ${ctx.server}`,
    `ACCESS              ${ctx.access}`,
    '# "source" opens for the packet\'s sender; your public address here (fwknop -a) resists a forwarded packet',
    'ALLOW_IP            source',
    `KEY_BASE64          ${keys.keyBase64}`,
    `HMAC_KEY_BASE64     ${keys.hmacKeyBase64}`,
    `HMAC_DIGEST_TYPE    ${keys.hmacType}`,
    'USE_HMAC            Y',
    '',
  ].join('\n');
  // No trailing spaces after the keys: fwknopd would take them as part of the key.
  const accessConf = [
    'SOURCE                  ANY',
    `OPEN_PORTS              ${ctx.access}`,
    `KEY_BASE64              ${keys.keyBase64}`,
    `HMAC_KEY_BASE64         ${keys.hmacKeyBase64}`,
    `HMAC_DIGEST_TYPE        ${keys.hmacType}`,
    'FW_ACCESS_TIMEOUT       30',
    '',
  ].join('\n');
  const open = ctx.access.split(',').map((spec) => {
    const [proto, port] = spec.split('/');
    return `"${port}/${proto}"`;
  });
  const knockgateDoor = [
    `[spa_door.${ctx.name}]`,
    `key_base64 = "${keys.keyBase64}"`,
    `hmac_key_base64 = "${keys.hmacKeyBase64}"`,
    `hmac_digest_type = "${keys.hmacType}"`,
    `open = [${open.join(', ')}]`,
    'open_for = "30s"',
    '',
  ].join('\n');
  return { fwknoprc, accessConf, knockgateDoor };
}
