import { parseFromPatterns, type FromPatterns } from './from-patterns.js';

/**
 * One line of an authorized_keys file, `[OPTIONS] TYPE BASE64 [COMMENT]` (sshd(8)), and what its
 * options mean for a door. Honoured: `from=` (the packet's source) and `expiry-time=` (the key's
 * last moment). Accepted and ignored: the options that only shape an ssh session, which sshd's own
 * authorized_keys decides once someone logs in and which opening a port gives nobody. Refused:
 * every option whose restriction a door cannot keep (docs/ssh-key-spa.md §5 lists them). Pure.
 */

/** Restrictions of the key a door keeps, per packet. */
export interface KeyRestrictions {
  from?: FromPatterns;
  /** Milliseconds since the epoch: the key opens nothing after this. */
  expiresAt?: number;
}

export interface AuthorizedKeysLine {
  type: string;
  blob: string;
  comment: string;
  restrictions: KeyRestrictions;
}

/** Options of an ssh session only: pty, forwarding, X11, agent, rc, environment, tun devices; `restrict` turns these off. */
const SESSION_ONLY_OPTIONS: ReadonlySet<string> = new Set([
  'agent-forwarding', 'no-agent-forwarding', 'port-forwarding', 'no-port-forwarding', 'pty', 'no-pty',
  'user-rc', 'no-user-rc', 'x11-forwarding', 'no-x11-forwarding', 'restrict', 'environment',
  'permitopen', 'permitlisten', 'tunnel',
  // Relaxes the touch a FIDO key needs; knockgate takes no FIDO keys.
  'no-touch-required',
]);

/** Why each refused option cannot be kept, for the load error. */
const REFUSED_OPTIONS: Readonly<Record<string, string>> = {
  command: 'limits the key to one command; opening a port lets its holder do anything sshd allows, so a door cannot keep that limit (give the door a key without command=)',
  'cert-authority': 'marks a CA; a door takes CAs in trusted_user_ca with principals',
  principals: 'belongs to cert-authority lines; a door takes principals = [...] with trusted_user_ca',
  'verify-required': 'needs a FIDO user-verification flag that a door\'s signatures do not carry',
};

const VALUE_OPTIONS = new Set(['from', 'expiry-time', 'command', 'environment', 'permitopen', 'permitlisten', 'principals', 'tunnel']);
/** A key line's first word when it has no options: a key type (ssh-ed25519, ecdsa-sha2-…, sk-…@openssh.com). */
const KEY_TYPE_WORD = /^(ssh|ecdsa|sk|rsa)-[A-Za-z0-9@.-]+$/;

/** The line's parts and restrictions, or what is wrong with it (for `FILE:LINE: message`). */
export function parseAuthorizedKeysLine(line: string): AuthorizedKeysLine | string {
  const first = /^\S+/.exec(line)?.[0] ?? '';
  let rest = line;
  let restrictions: KeyRestrictions = {};
  if (!KEY_TYPE_WORD.test(first)) {
    const options = readOptions(line);
    if (typeof options === 'string') return options;
    const kept = restrictionsOf(options.options);
    if (typeof kept === 'string') return kept;
    restrictions = kept;
    rest = line.slice(options.end);
  }
  const [type = '', blob = '', ...comment] = rest.trim().split(/\s+/);
  return { type, blob, comment: comment.join(' '), restrictions };
}

type Option = { name: string; value?: string };

/** `name[="value"]`, comma-separated, up to the first unquoted blank; `\"` inside a value is a quote. */
function readOptions(line: string): { options: Option[]; end: number } | string {
  const options: Option[] = [];
  let i = 0;
  for (;;) {
    const name = /^[A-Za-z0-9-]+/.exec(line.slice(i))?.[0];
    if (!name) return `expected options and then "TYPE BASE64 COMMENT", got "${line.slice(i, i + 40)}"`;
    i += name.length;
    let value: string | undefined;
    if (line.startsWith('="', i)) {
      let j = i + 2;
      value = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && line[j + 1] === '"') j++;
        value += line[j++];
      }
      if (j >= line.length) return `option ${name}: the quoted value does not end`;
      i = j + 1;
    }
    options.push({ name: name.toLowerCase(), ...(value !== undefined && { value }) });
    if (line[i] === ',') {
      i++;
      continue;
    }
    if (i >= line.length || /\s/.test(line[i]!)) return { options, end: i };
    if (line[i] === '=') return `option ${name}: its value goes in double quotes, ${name}="…" (as sshd reads it)`;
    return `option ${name}: expected "," or a blank after it, got "${line[i]}"`;
  }
}

function restrictionsOf(options: Option[]): KeyRestrictions | string {
  const out: KeyRestrictions = {};
  for (const { name, value } of options) {
    if (VALUE_OPTIONS.has(name) !== (value !== undefined)) return `option ${name} ${value === undefined ? 'needs a ="value"' : 'takes no value'}`;
    const refused = REFUSED_OPTIONS[name];
    if (refused) return `option ${name} is refused: it ${refused}`;
    if (SESSION_ONLY_OPTIONS.has(name)) continue;
    if (name === 'from') {
      if (out.from) return 'option from is given twice';
      const from = parseFromPatterns(value!);
      if (typeof from === 'string') return `option from="${value}": ${from}`;
      out.from = from;
    } else if (name === 'expiry-time') {
      if (out.expiresAt !== undefined) return 'option expiry-time is given twice';
      const at = expiryTime(value!);
      if (at === undefined) return `option expiry-time="${value}": expected YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, local time or with Z for UTC`;
      out.expiresAt = at;
    } else return `option ${name} is not one sshd documents; a door will not guess what it restricts`;
  }
  return out;
}

/** sshd's timespec: the last moment the key is valid, in local time unless it ends in Z. */
function expiryTime(text: string): number | undefined {
  const m = /^(\d{4})(\d\d)(\d\d)(?:(\d\d)(\d\d)(\d\d)?)?(Z?)$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((v) => (v === undefined ? undefined : Number(v)));
  const at = m[7] === 'Z' ? Date.UTC(y!, mo! - 1, d, h, mi, s) : new Date(y!, mo! - 1, d, h, mi, s).getTime();
  const back = new Date(at);
  // 20261340 would roll over into a later date: a typo, not a time.
  const day = m[7] === 'Z' ? back.getUTCDate() : back.getDate();
  return Number.isNaN(at) || day !== d || mo! > 12 || h! > 23 || mi! > 59 || s! > 59 ? undefined : at;
}
