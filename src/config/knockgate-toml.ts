import { readFile, stat } from 'node:fs/promises';
import { parse as parseToml, TomlError } from 'smol-toml';
import * as v from 'valibot';
import type { KnockDoor } from '../core/door.js';
import type { PortSpec } from '../core/packet.js';
import { didYouMean } from './did-you-mean.js';
import { ConfigError, describeValue, everyItem, parsed, rejected, type ConfigProblem, type Parsed } from './config-error.js';
import { AWS_KNOWN_KEYS, awsSchema, crossCheckAws, resolveAws } from './aws-config.js';
import { absolutePath, boolean, integerIn, ipAddress, knownKeys, leaf, leafOr, listOf, namedTables, oneOf, optionalLeaf, stringMatching, table } from './config-values.js';
import { parseDurationWithin } from './duration.js';
import { crossCheckDoorSequence, doorSequenceKeys, resolveSequenceSource } from './door-sequence.js';
import { crossCheckDoorGate, doorGateKeys, iptablesSchema, resolveDoorAction, resolveIptables } from './gate-config.js';
import { crossCheckKernelDoor, doorKernelKeys } from './kernel-door-config.js';
import { crossCheckFleet, FLEET_KNOWN_KEYS, fleetSchema, resolveFleet } from './fleet-config.js';
import { crossCheckScope, doorScopeKeys, resolveScope } from './grant-scope-config.js';
import { METRICS_KNOWN_KEYS, metricsSchema, resolveMetrics } from './metrics-config.js';
import { crossCheckGuard, GUARD_KNOWN_KEYS, guardSchema, resolveGuard } from './guard-config.js';
import { resolveSpaToml, spaDoorSchema, spaSettingsSchema } from './spa-config.js';
import { parseKnockSequence, parseKnockSteps, parsePortSpec, parseTcpFlags } from './knock-syntax.js';
import { DEFAULTS } from './defaults.js';
import type { DoorConfig, GateAction, KnockgateConfig, NftablesSettings } from './model.js';
import { keyLocator, type KeyPath } from './toml-locate.js';

/** A knockgate config is a few KB; refusing more stops a wrong path (a log, /dev/zero) from filling memory. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** A bastion needs a handful of doors; every door adds terms to the capture filter and to each packet's door scan. */
export const MAX_DOORS = 256;
/** Range of `max_tracked_sources`: fewer lets a handful of sources evict an honest knocker; more than 2^20 entries is memory, not safety. */
export const MIN_CONFIGURABLE_TRACKED_SOURCES = 16;
export const MAX_CONFIGURABLE_TRACKED_SOURCES = 1_048_576;
/** Below this, network jitter between an honest client's knocks already fails the sequence. */
export const MIN_SEQ_TIMEOUT_MS = 100;
/** A longer window mostly helps a slow port scan walk into the sequence (FIELD.md §1.9 T8). */
export const MAX_SEQ_TIMEOUT_MS = 3_600_000;
export const MIN_OPEN_FOR_MS = 1_000;
export const MAX_OPEN_FOR_MS = 86_400_000;
export const DEFAULT_TCP_FLAGS = 'syn,!ack';

const DOOR_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const DOOR_NAME_RULE = 'a door name is 1..64 letters, digits, _ . or -';
const NFT_TABLE = /^[A-Za-z0-9_]{1,32}$/;
const NFT_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// Linux IFNAMSIZ is 16 including the terminating NUL.
const IFNAME = /^[^\s/:]{1,15}$/;

/**
 * Reads and validates a knockgate TOML config file. Throws ConfigError naming file, line and
 * field of every problem found.
 */
export async function readKnockgateToml(file: string): Promise<KnockgateConfig> {
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new ConfigError(file, [{ message: 'is not a regular file' }]);
    if (info.size > MAX_CONFIG_BYTES) {
      throw new ConfigError(file, [{ message: `is ${info.size} bytes; a config file is at most ${MAX_CONFIG_BYTES} bytes` }]);
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(file, [{ message: `cannot be read: ${(err as Error).message}` }]);
  }
  return parseKnockgateToml(text, file);
}

/** Validates knockgate TOML text; `file` is only used in messages and in `source`. */
/**
 * `stateDir`: the state directory named on the command line (`serve --state-dir`), instead of
 * daemon.state_dir; every state file the config does not place itself follows it.
 */
export function parseKnockgateToml(text: string, file: string, opts: { spaDoorsElsewhere?: boolean; stateDir?: string | undefined } = {}): KnockgateConfig {
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES) {
    throw new ConfigError(file, [{ message: `a config file is at most ${MAX_CONFIG_BYTES} bytes` }]);
  }
  let data: unknown;
  try {
    data = parseToml(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const what = err.message.split('\n')[0]?.replace(/^Invalid TOML document:\s*/, '') ?? 'invalid TOML';
    throw new ConfigError(file, [{ line: err.line, message: `not valid TOML: ${what} (column ${err.column})` }]);
  }
  const lineOf = keyLocator(text);
  const result = v.safeParse(configSchema, data);
  if (!result.success) throw new ConfigError(file, byLine(problemsOf(result.issues, lineOf)));
  const valid = result.output;
  const doors = Object.entries(valid.door ?? {})
    .map(([name, d]) => ({ name, d, line: lineOf(['door', name]) ?? 0 }))
    .sort((a, b) => a.line - b.line)
    .map(({ name, d }): DoorConfig => ({
      knock: {
        name,
        sequence: d.sequence ?? [],
        seqTimeoutMs: d.seq_timeout,
        tcpFlags: d.tcp_flags,
        targets: d.target,
        mode: d.mode,
        tolerateRepeat: d.tolerate_repeat,
        ...(d.kernel && { kernel: true }),
      } satisfies KnockDoor,
      action: withScope(resolveDoorAction(d), resolveScope(d)),
      sequenceSource: resolveSequenceSource(d),
    }));
  const nftables: NftablesSettings = {
    table: valid.nftables.table,
    mark: valid.nftables.mark,
    onStop: valid.nftables.on_stop,
    ...(valid.nftables.host_chain && { hostChain: valid.nftables.host_chain }),
  };
  const config: KnockgateConfig = {
    source: { file, kind: 'knockgate' },
    daemon: {
      interfaces: valid.daemon.interfaces,
      logFormat: valid.daemon.log_format,
      logLevel: valid.daemon.log_level,
      useSyslog: valid.daemon.use_syslog,
      stateDir: opts.stateDir ?? valid.daemon.state_dir,
      controlSocket: valid.daemon.control_socket,
      maxTrackedSources: valid.daemon.max_tracked_sources,
      ...(valid.daemon.log_file !== undefined && { logFile: valid.daemon.log_file }),
      ...(valid.daemon.pid_file !== undefined && { pidFile: valid.daemon.pid_file }),
    },
    doors,
    nftables,
    iptables: resolveIptables(valid.iptables),
    ...(valid.guard && { guard: resolveGuard(valid.guard, lineOf) }),
    ...(valid.aws && { aws: resolveAws(valid.aws) }),
    ...(valid.metrics && { metrics: resolveMetrics(valid.metrics) }),
    ...(valid.fleet && { fleet: resolveFleet(valid.fleet) }),
  };
  const spa = resolveSpaToml(file, valid.spa, valid.spa_door, (name) => lineOf(['spa_door', name]) ?? 0, config.daemon.stateDir, config.daemon.interfaces);
  if (spa.spa) config.spa = spa.spa;
  const opened = doors.flatMap((door) => (door.action.kind === 'gate' ? door.action.open : []));
  const gateProblems = Object.entries(valid.door ?? {}).flatMap(([name, d]) => [...crossCheckDoorGate(name, d), ...crossCheckDoorSequence(name, d, opened), ...crossCheckKernelDoor(name, d), ...crossCheckScope(name, d, 'door')]);
  const problems = [...crossCheck(config, opts.spaDoorsElsewhere ?? false), ...gateProblems, ...crossCheckAws(config), ...crossCheckFleet(config), ...spa.problems].map(({ path, message }) => ({ line: lineOf(path), field: fieldName(path), message }));
  if (problems.length > 0) throw new ConfigError(file, byLine(problems));
  return config;
}

/** Rules that span settings, checked once every setting is valid on its own. */
function crossCheck(config: KnockgateConfig, spaDoorsElsewhere: boolean): { path: KeyPath; message: string }[] {
  const out: { path: KeyPath; message: string }[] = [];
  // A [guard] alone is a daemon that only watches ports; with neither there is nothing to run.
  if (config.doors.length === 0 && !config.spa?.doors.length && !spaDoorsElsewhere && !config.guard) {
    out.push({ path: [], message: 'no door is configured; add a [door.NAME] or [spa_door.NAME] table, or a [guard] section to only watch ports' });
  }
  if (config.doors.length > MAX_DOORS) out.push({ path: ['door'], message: `at most ${MAX_DOORS} doors, got ${config.doors.length}` });
  const opened = new Set(config.doors.flatMap((d) => (d.action.kind === 'gate' ? d.action.open.map(portKey) : [])));
  for (const d of config.doors) {
    const clash = d.knock.sequence.find((s) => opened.has(portKey(s)));
    if (clash) {
      out.push({
        path: ['door', d.knock.name, 'sequence'],
        message: `knock port ${portKey(clash)} is also a port a door opens; a knock there would reach the service`,
      });
    }
  }
  // Command doors share one journal keyed by door name: two of one name would run each other's stop.
  const commandDoors = new Set(config.doors.flatMap((d) => (d.action.kind === 'gate' && d.action.gate === 'command' ? [d.knock.name] : [])));
  for (const d of config.spa?.doors ?? []) {
    if (d.gate === 'command' && commandDoors.has(d.rules.door)) {
      out.push({ path: ['spa_door', d.rules.door, 'gate'], message: `a [door.${d.rules.door}] with gate = "command" has this name too; give the SPA door another name` });
    }
  }
  const host = config.nftables.hostChain;
  // knockgate's table is family inet; a same-named table of family ip or ip6 is a different table.
  if (host?.family === 'inet' && host.table === config.nftables.table) {
    out.push({ path: ['nftables', 'host_chain'], message: `must name a chain outside knockgate's own table "${config.nftables.table}"` });
  }
  if (config.guard) out.push(...crossCheckGuard(config.guard));
  return out;
}

function withScope(action: GateAction, scope: GateAction['scope']): GateAction {
  return scope ? { ...action, scope } : action;
}

function portKey(p: PortSpec): string {
  return `${p.port}/${p.proto}`;
}

// ---- schema: valibot checks the shape (tables, unknown keys, defaults); leaf parsers check values.

function sequence(v: unknown): Parsed<KnockDoor['sequence']> {
  if (typeof v === 'string') return parseKnockSequence(v);
  if (!Array.isArray(v)) return rejected(`expected a list like ["7000:tcp", "8000:udp"] or a string "7000:tcp,8000:udp", got ${describeValue(v)}`);
  const items = everyItem(v, 'knock', (item): Parsed<string> =>
    typeof item === 'number' && Number.isInteger(item) ? parsed(String(item)) : typeof item === 'string' ? parsed(item) : rejected(`expected "PORT:PROTO" or a port number, got ${describeValue(item)}`),
  );
  return items.ok ? parseKnockSteps(items.value) : items;
}

function tcpFlags(v: unknown): Parsed<KnockDoor['tcpFlags']> {
  return typeof v === 'string' ? parseTcpFlags(v) : rejected(`expected flags like "syn,!ack", got ${describeValue(v)}`);
}

function portSpec(v: unknown): Parsed<PortSpec> {
  if (typeof v === 'number' && Number.isInteger(v)) return parsePortSpec(String(v));
  return typeof v === 'string' ? parsePortSpec(v) : rejected(`expected "PORT/tcp" or "PORT/udp", got ${describeValue(v)}`);
}

function hostChain(v: unknown): Parsed<NonNullable<NftablesSettings['hostChain']>> {
  const parts = typeof v === 'string' ? v.trim().split(/\s+/) : [];
  const [family, table, chain] = parts;
  if (parts.length !== 3 || (family !== 'inet' && family !== 'ip' && family !== 'ip6') || !NFT_NAME.test(table ?? '') || !NFT_NAME.test(chain ?? '')) {
    return rejected(`expected "<family> <table> <chain>" with family inet, ip or ip6 (e.g. "inet filter input"), got ${describeValue(v)}`);
  }
  return parsed({ family, table: table as string, chain: chain as string });
}

const daemonSchema = table({
  interfaces: leafOr(listOf(stringMatching(IFNAME, 'an interface name'), (s) => s), []),
  log_format: leafOr(oneOf(['auto', 'json', 'human'] as const), 'auto'),
  log_level: leafOr(oneOf(['trace', 'debug', 'info', 'warn', 'error'] as const), 'info'),
  log_file: optionalLeaf(absolutePath),
  use_syslog: leafOr(boolean, false),
  pid_file: optionalLeaf(absolutePath),
  state_dir: leafOr(absolutePath, DEFAULTS.stateDir),
  control_socket: leafOr(absolutePath, DEFAULTS.controlSocket),
  max_tracked_sources: leafOr(integerIn(MIN_CONFIGURABLE_TRACKED_SOURCES, MAX_CONFIGURABLE_TRACKED_SOURCES), DEFAULTS.maxTrackedSources),
});

const nftablesSchema = table({
  table: leafOr(stringMatching(NFT_TABLE, 'a table name of 1..32 letters, digits or _'), DEFAULTS.nftTable),
  host_chain: optionalLeaf(hostChain),
  mark: leafOr(integerIn(1, 0xffff_ffff, true), DEFAULTS.nftMark),
  on_stop: leafOr(oneOf(['close', 'keep', 'remove'] as const), 'close'),
});

const doorSchema = table({
  sequence: optionalLeaf(sequence),
  ...doorSequenceKeys,
  seq_timeout: leafOr((v) => parseDurationWithin(v, MIN_SEQ_TIMEOUT_MS, MAX_SEQ_TIMEOUT_MS), DEFAULTS.seqTimeoutMs),
  // The default is flag text, read as a written value would be.
  tcp_flags: v.optional(leaf(tcpFlags), DEFAULT_TCP_FLAGS),
  target: leafOr(listOf(ipAddress, (s) => s), []),
  mode: leafOr(oneOf(['strict', 'knockd'] as const), 'strict'),
  tolerate_repeat: leafOr(boolean, true),
  ...doorKernelKeys,
  open: leaf(listOf(portSpec, portKey, 1)),
  open_for: leafOr((v) => parseDurationWithin(v, MIN_OPEN_FOR_MS, MAX_OPEN_FOR_MS), DEFAULTS.openForMs),
  ...doorGateKeys,
  ...doorScopeKeys,
  gate: leafOr(oneOf(['nftables', 'iptables', 'command', 'aws-sg'] as const), 'nftables'),
});

const configSchema = table({
  daemon: v.optional(daemonSchema, {}),
  nftables: v.optional(nftablesSchema, {}),
  iptables: v.optional(iptablesSchema, {}),
  guard: v.optional(guardSchema),
  aws: v.optional(awsSchema),
  metrics: v.optional(metricsSchema),
  fleet: v.optional(fleetSchema),
  spa: v.optional(spaSettingsSchema),
  spa_door: v.optional(namedTables(DOOR_NAME, DOOR_NAME_RULE, spaDoorSchema)),
  door: v.optional(namedTables(DOOR_NAME, DOOR_NAME_RULE, doorSchema)),
});

const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': knownKeys(configSchema),
  daemon: knownKeys(daemonSchema),
  nftables: knownKeys(nftablesSchema),
  iptables: knownKeys(iptablesSchema),
  door: knownKeys(doorSchema),
  spa: knownKeys(spaSettingsSchema),
  spa_door: knownKeys(spaDoorSchema),
  ...GUARD_KNOWN_KEYS,
  ...AWS_KNOWN_KEYS,
  ...METRICS_KNOWN_KEYS,
  ...FLEET_KNOWN_KEYS,
};

// ---- valibot issues → operator messages

type Issue = v.BaseIssue<unknown>;

function problemsOf(issues: readonly Issue[], lineOf: (path: KeyPath) => number | undefined): ConfigProblem[] {
  // A table under a bad name is not read further: its name is what to fix.
  const badNames = issues.filter(isBadName).map((issue) => issue.path!.at(-1)!);
  const underBadName = (issue: Issue) =>
    issue.path?.some((p) => p.type === 'map' && p.origin === 'value' && badNames.some((b) => b.input === p.input && b.key === p.key)) ?? false;
  return issues.filter((issue) => !underBadName(issue)).flatMap((issue) => problemOf(issue, lineOf));
}

/** An issue raised by a name check of namedTables(): its path ends at the key itself. */
function isBadName(issue: Issue): boolean {
  const last = issue.path?.at(-1);
  return last?.type === 'map' && last.origin === 'key';
}

function problemOf(issue: Issue, lineOf: (path: KeyPath) => number | undefined): ConfigProblem[] {
  const path = (issue.path ?? []).map((p) => p.key as string);
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    // valibot stops at a table's first unknown key; the operator is told every one.
    const tablePath = path.slice(0, -1);
    const known = KNOWN_KEYS[tablePath.slice(0, 2).join('.')] ?? KNOWN_KEYS[tablePath[0] ?? ''] ?? [];
    const keys = Object.keys(issue.path!.at(-1)!.input as object).filter((key) => !known.includes(key));
    return keys.map((key) => {
      const at = [...tablePath, key];
      const hint = tablePath.length === 0 && key === 'doors' ? ' (doors are [door.NAME] tables)' : didYouMean(key, known);
      return { line: lineOf(at), field: fieldName(at), message: `unknown setting${hint}; known here: ${known.join(', ')}` };
    });
  }
  let message = issue.message;
  // The only other issue a table raises is a key it needs and did not get.
  if (issue.type === 'strict_object') message = 'is required here and missing';
  if (isBadName(issue)) message = `invalid door name: ${issue.message}`;
  if (issue.type === 'custom' && path.length === 2 && (path[0] === 'door' || path[0] === 'spa_door')) {
    message = `expected a table [${path[0]}.${path[1]}], got ${describeValue(issue.input)}`;
  }
  return [{ line: lineOf(path), field: fieldName(path), message }];
}

/** In file order, so an operator fixes from the top; problems without a line (whole-file ones) last. */
function byLine(problems: ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** `['door', 'a.b', 'open']` → `door."a.b".open`, as the key would be written in TOML. */
function fieldName(path: KeyPath): string | undefined {
  if (path.length === 0) return undefined;
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += (out ? '.' : '') + (BARE_KEY.test(seg) ? seg : JSON.stringify(seg));
  }
  return out;
}
