import { ConfigError, type ConfigProblem } from '../config/config-error.js';

/**
 * The fwknop client's rc file (~/.fwknoprc): `[NAME]` stanzas of `VARIABLE value` lines, read as
 * fwknop 2.6.10 reads them: a line whose first character is `#`, `;` or the line's end is skipped;
 * the name ends at whitespace and loses a trailing `:`; the value ends at whitespace, `;` or `#`;
 * stanza names match without regard to case; `[default]` underlies every named stanza. Like
 * fwknop, only the stanzas in use are checked, so a line another stanza (or a newer fwknop) wrote
 * breaks nothing else.
 */

/** The rc variables `knockgate spa` acts on, and the setting each stands for. */
export const RC_VARIABLES = {
  SPA_SERVER: 'destination',
  ALLOW_IP: 'allowIp',
  ACCESS: 'access',
  SPA_SERVER_PORT: 'serverPort',
  SPA_SERVER_PROTO: 'serverProto',
  KEY: 'key',
  KEY_BASE64: 'keyBase64',
  KEY_FILE: 'keyFile',
  USE_HMAC: 'useHmac',
  HMAC_KEY: 'hmacKey',
  HMAC_KEY_BASE64: 'hmacKeyBase64',
  HMAC_KEY_FILE: 'hmacKeyFile',
  HMAC_DIGEST_TYPE: 'hmacDigestType',
  DIGEST_TYPE: 'digestType',
  ENCRYPTION_MODE: 'encryptionMode',
  FW_TIMEOUT: 'fwTimeout',
  SPOOF_USER: 'spoofUser',
  NAT_ACCESS: 'natAccess',
  NAT_LOCAL: 'natLocal',
  NAT_PORT: 'natPort',
  TIME_OFFSET: 'timeOffset',
  SERVER_RESOLVE_IPV4: 'serverResolveIpv4',
  VERBOSE: 'verbose',
} as const;
export type RcVariable = keyof typeof RC_VARIABLES;

const RESOLVE = 'resolving the external address needs an Internet service; set ALLOW_IP to the address instead (or "source")';
const GPG = 'GPG encryption is not supported; use KEY_BASE64 and HMAC_KEY_BASE64 (knockgate keygen makes them)';

/** fwknop variables whose feature `knockgate spa` leaves out: harmless when off (N), refused when on. */
const OFF_SWITCHES: Readonly<Record<string, string>> = {
  RESOLVE_IP_HTTPS: RESOLVE,
  RESOLVE_IP_HTTP: RESOLVE,
  RESOLVE_HTTP_ONLY: RESOLVE,
  USE_WGET_USER_AGENT: RESOLVE,
  USE_GPG: GPG,
  USE_GPG_AGENT: GPG,
  GPG_NO_SIGNING_PW: GPG,
  RAND_PORT: 'random server ports are not supported; set SPA_SERVER_PORT',
  NAT_RAND_PORT: 'random NAT ports are not supported; set NAT_PORT',
};

/**
 * fwknop variables read and deliberately not acted on, each with why: they change nothing a
 * packet from `knockgate spa` carries or where it goes.
 */
const IGNORED_RC_VARIABLES: Readonly<Record<string, string>> = {
  NO_SAVE_ARGS: 'knockgate spa never writes ~/.fwknop.run',
  // Used only when resolving the external address or when GPG is on, both refused above.
  RESOLVE_URL: 'used only to resolve the external address, which knockgate spa does not do',
  WGET_CMD: 'used only to resolve the external address, which knockgate spa does not do',
  GPG_RECIPIENT: 'used only with USE_GPG Y',
  GPG_SIGNER: 'used only with USE_GPG Y',
  GPG_HOMEDIR: 'used only with USE_GPG Y',
  GPG_EXE: 'used only with USE_GPG Y',
  GPG_SIGNING_PW: 'used only with USE_GPG Y',
  GPG_SIGNING_PW_BASE64: 'used only with USE_GPG Y',
};

/** fwknop variables whose feature `knockgate spa` does not have, with what to do instead. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  SPA_SOURCE_PORT: 'choosing the source port is not supported; remove the line',
  SPOOF_SOURCE_IP: 'spoofing the source address needs raw sockets and is not supported; use ALLOW_IP for the address to open',
  HTTP_USER_AGENT: 'the HTTP User-Agent is always the one fwknop 2.6.10 sends (fwknopd looks for "User-Agent: Fwknop"); remove the line',
};

const KNOWN = [...Object.keys(RC_VARIABLES), ...Object.keys(OFF_SWITCHES), ...Object.keys(IGNORED_RC_VARIABLES), ...Object.keys(UNSUPPORTED)];

/** One value as written, with where it was written (for errors that name file:line). */
export interface RcValue {
  value: string;
  line: number;
}

export type RcStanza = Map<RcVariable, RcValue>;

/** One stanza as read: its settings and the problems of its lines, reported only if it is used. */
interface RcSection {
  name: string;
  values: RcStanza;
  problems: ConfigProblem[];
}

export interface Fwknoprc {
  file: string;
  /** By lower-case name: fwknop matches stanza names without regard to case. */
  stanzas: Map<string, RcSection>;
}

/** An rc file this large is not an rc file; refusing it keeps a mistaken path from costing memory. */
export const MAX_RC_FILE_BYTES = 1 << 20;

const STANZA = /^\[([^\]]+)\]/;
/** fwknop's sscanf("%s %[^ ;\t\n\r#]"): a name, whitespace, and a value up to the next separator. */
const ASSIGNMENT = /^(\S+)[ \t]+([^ ;\t\r\n#]*)/;

/** Parse a whole rc file; each stanza keeps its own problems. */
export function parseFwknoprc(text: string, file: string): Fwknoprc {
  if (text.length > MAX_RC_FILE_BYTES) throw new ConfigError(file, [{ message: `larger than ${MAX_RC_FILE_BYTES} bytes; is this an fwknop rc file?` }]);
  const stanzas = new Map<string, RcSection>();
  let current: RcSection | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (/^[#;\r]/.test(raw) || raw === '') return;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const header = STANZA.exec(trimmed);
    if (header) {
      const name = header[1]!.trim();
      current = stanzas.get(name.toLowerCase()) ?? { name, values: new Map(), problems: [] };
      stanzas.set(name.toLowerCase(), current);
      return;
    }
    const m = ASSIGNMENT.exec(trimmed);
    const written = m?.[1] ?? trimmed.split(/\s/)[0]!;
    const name = written.includes(':') ? written.slice(0, written.lastIndexOf(':')) : written;
    const value = m?.[2] ?? '';
    // fwknop reads lines only inside the stanzas it uses.
    if (!current) return;
    const problem = checkVariable(name, value);
    if (problem) current.problems.push({ line, field: name, message: problem });
    else if (name in RC_VARIABLES) current.values.set(name as RcVariable, { value, line });
  });
  return { file, stanzas };
}

function checkVariable(name: string, value: string): string | undefined {
  if (value === '') return 'has no value';
  if (name in RC_VARIABLES || name in IGNORED_RC_VARIABLES) return undefined;
  const off = OFF_SWITCHES[name];
  if (off !== undefined) return /^[nN]/.test(value) ? undefined : off;
  const unsupported = UNSUPPORTED[name];
  if (unsupported !== undefined) return unsupported;
  const upper = name.toUpperCase();
  const hint = upper !== name && KNOWN.includes(upper) ? ` (fwknop names are upper case: ${upper})` : '';
  return `unknown variable${hint}; fwknop 2.6.10 knows: ${KNOWN.join(', ')}`;
}

/**
 * The settings of stanza `name` laid over `[default]`, as fwknop -n reads them; `undefined` name
 * gives `[default]` alone. A missing named stanza is an error that lists the ones there are; a bad
 * line in either stanza used is an error with its line, as fwknop stops on one too.
 */
export function rcStanza(rc: Fwknoprc, name: string | undefined): RcStanza {
  const base = rc.stanzas.get('default');
  const used = [base];
  if (name !== undefined) {
    const named = rc.stanzas.get(name.toLowerCase());
    if (!named) {
      const have = [...rc.stanzas.values()].map((s) => s.name).filter((n) => n.toLowerCase() !== 'default');
      const list = have.length === 0 ? 'it has no named stanzas' : `it has ${have.map((n) => `[${n}]`).join(', ')}`;
      throw new ConfigError(rc.file, [{ message: `no stanza [${name}] (-n ${name}); ${list}` }]);
    }
    used.push(named);
  }
  const problems = used.flatMap((s) => s?.problems ?? []);
  if (problems.length > 0) throw new ConfigError(rc.file, [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  return new Map(used.flatMap((s) => [...(s?.values ?? [])]));
}
