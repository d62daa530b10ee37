import { ConfigError, type ConfigProblem } from '../config/config-error.js';

/**
 * The fwknop client's rc file (~/.fwknoprc): `[NAME]` stanzas of `VARIABLE value` lines. As in
 * fwknop 2.6.10, variable names are case-sensitive, whitespace separates name and value (an `=`
 * would be part of the value), a value ends at `;` or `#`, and `[default]` underlies every named stanza.
 */

/** The rc variables `knockgate spa` acts on, and the option each stands for. */
export const RC_VARIABLES = {
  SPA_SERVER: 'destination',
  ALLOW_IP: 'allowIp',
  ACCESS: 'access',
  SPA_SERVER_PORT: 'serverPort',
  SPA_SERVER_PROTO: 'serverProto',
  KEY: 'key',
  KEY_BASE64: 'keyBase64',
  USE_HMAC: 'useHmac',
  HMAC_KEY: 'hmacKey',
  HMAC_KEY_BASE64: 'hmacKeyBase64',
  HMAC_DIGEST_TYPE: 'hmacDigestType',
  DIGEST_TYPE: 'digestType',
  ENCRYPTION_MODE: 'encryptionMode',
  FW_TIMEOUT: 'fwTimeout',
  SPOOF_USER: 'spoofUser',
  NAT_ACCESS: 'natAccess',
  NAT_LOCAL: 'natLocal',
  NAT_PORT: 'natPort',
} as const;
export type RcVariable = keyof typeof RC_VARIABLES;

/** Variables fwknop documents for features `knockgate spa` leaves out: harmless when off, refused when on. */
const OFF_SWITCHES: Readonly<Record<string, string>> = {
  RESOLVE_IP_HTTPS: 'resolving the external address needs an Internet service; set ALLOW_IP to the address instead',
  RESOLVE_HTTP_ONLY: 'resolving the external address needs an Internet service; set ALLOW_IP to the address instead',
  USE_WGET_USER_AGENT: 'resolving the external address needs an Internet service; set ALLOW_IP to the address instead',
  USE_GPG: 'GPG encryption is not supported; use KEY_BASE64 and HMAC_KEY_BASE64 (knockgate keygen makes them)',
  USE_GPG_AGENT: 'GPG encryption is not supported; use KEY_BASE64 and HMAC_KEY_BASE64 (knockgate keygen makes them)',
  RAND_PORT: 'random server ports are not supported; set SPA_SERVER_PORT',
  NAT_RAND_PORT: 'random NAT ports are not supported; set NAT_PORT',
};

/** Variables fwknop documents whose feature `knockgate spa` does not have, with what to do instead. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  RESOLVE_URL: OFF_SWITCHES.RESOLVE_IP_HTTPS!,
  WGET_CMD: OFF_SWITCHES.RESOLVE_IP_HTTPS!,
  GPG_SIGNING_PW: OFF_SWITCHES.USE_GPG!,
  GPG_SIGNING_PW_BASE64: OFF_SWITCHES.USE_GPG!,
  GPG_SIGNER: OFF_SWITCHES.USE_GPG!,
  GPG_RECIPIENT: OFF_SWITCHES.USE_GPG!,
  GPG_HOMEDIR: OFF_SWITCHES.USE_GPG!,
  GPG_EXE: OFF_SWITCHES.USE_GPG!,
  SPA_SOURCE_PORT: 'choosing the source port is not supported; remove the line',
  SPOOF_SOURCE_IP: 'spoofing the source address needs raw sockets and is not supported; use ALLOW_IP for the address to open',
  TIME_OFFSET: 'timestamp offsets are not supported; fix the client clock (fwknopd allows 120 s either way)',
  KEY_FILE: 'key files are not supported; put KEY_BASE64 in the stanza',
  HTTP_USER_AGENT: 'the HTTP User-Agent is always the one fwknop 2.6.10 sends; remove the line',
};

/** One value as written, with where it was written (for errors that name file:line). */
export interface RcValue {
  value: string;
  line: number;
}

export type RcStanza = Map<RcVariable, RcValue>;

export interface Fwknoprc {
  file: string;
  stanzas: Map<string, RcStanza>;
}

/** An rc file this large is not an rc file; refusing it keeps a mistaken path from costing memory. */
export const MAX_RC_FILE_BYTES = 1 << 20;

const STANZA = /^\[([^\]]+)\]$/;
const ASSIGNMENT = /^([A-Za-z0-9_]+)\s+(.*)$/;

/** Parse a whole rc file; every problem is reported at once, each with its line. */
export function parseFwknoprc(text: string, file: string): Fwknoprc {
  if (text.length > MAX_RC_FILE_BYTES) throw new ConfigError(file, [{ message: `larger than ${MAX_RC_FILE_BYTES} bytes; is this an fwknop rc file?` }]);
  const stanzas = new Map<string, RcStanza>();
  const problems: ConfigProblem[] = [];
  let current: RcStanza | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const header = STANZA.exec(trimmed);
    if (header) {
      const name = header[1]!.trim();
      current = stanzas.get(name) ?? new Map();
      stanzas.set(name, current);
      return;
    }
    const m = ASSIGNMENT.exec(trimmed);
    const name = m?.[1] ?? trimmed.split(/\s/)[0]!;
    const value = (m?.[2] ?? '').split(/[;#]/)[0]!.trim();
    const problem = checkVariable(name, value, current !== undefined);
    if (problem) {
      problems.push({ line, field: name, message: problem });
      return;
    }
    if (name in RC_VARIABLES) current!.set(name as RcVariable, { value, line });
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { file, stanzas };
}

function checkVariable(name: string, value: string, inStanza: boolean): string | undefined {
  if (!inStanza) return 'outside any stanza; put it under [default] or a [NAME] line';
  if (value === '') return 'has no value';
  if (name in RC_VARIABLES) return undefined;
  const off = OFF_SWITCHES[name];
  if (off !== undefined) return /^[nN]/.test(value) ? undefined : off;
  const unsupported = UNSUPPORTED[name];
  if (unsupported !== undefined) return unsupported;
  const upper = name.toUpperCase();
  const hint = upper !== name && (upper in RC_VARIABLES || upper in OFF_SWITCHES || upper in UNSUPPORTED) ? ` (fwknop names are upper case: ${upper})` : '';
  return `unknown variable${hint}; known: ${Object.keys(RC_VARIABLES).join(', ')}`;
}

/**
 * The settings of stanza `name` laid over `[default]`, as fwknop -n reads them; `undefined` name
 * gives `[default]` alone. A missing named stanza is an error that lists the ones there are.
 */
export function rcStanza(rc: Fwknoprc, name: string | undefined): RcStanza {
  const base = rc.stanzas.get('default') ?? new Map<RcVariable, RcValue>();
  if (name === undefined) return new Map(base);
  const named = rc.stanzas.get(name);
  if (!named) {
    const have = [...rc.stanzas.keys()].filter((n) => n !== 'default');
    const list = have.length === 0 ? 'it has no named stanzas' : `it has ${have.map((n) => `[${n}]`).join(', ')}`;
    throw new ConfigError(rc.file, [{ message: `no stanza [${name}] (-n ${name}); ${list}` }]);
  }
  return new Map([...base, ...named]);
}
