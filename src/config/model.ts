import type { CommandTemplate } from '../core/command-template.js';
import type { SequenceSource } from '../core/door-schedule.js';
import type { GrantScope } from '../core/grant-scope.js';
import type { KnockDoor } from '../core/door.js';
import type { PortSpec, Proto } from '../core/packet.js';
import type { SpaAccessRules } from '../core/spa-access.js';
import type { SpaKeys } from '../core/spa/index.js';
import type { LogFormat } from '../log/logger.js';

/**
 * The validated, resolved configuration every part of the daemon consumes: types only, and a leaf
 * of the config folder (it imports no reader, so every reader and every user can import it). The
 * readers (knockgate TOML, knockd.conf, fwknop's access.conf) produce it in the section files
 * beside this one, which keep each section's schema, resolver and checks; nothing downstream
 * re-validates it. Defaults are values, in defaults.ts.
 */
export interface KnockgateConfig {
  /** Where it came from, for messages. */
  source: { file: string; kind: 'knockgate' | 'knockd' };
  daemon: DaemonSettings;
  doors: DoorConfig[];
  nftables: NftablesSettings;
  /** Settings of the iptables gate; absent when the config source has none (the defaults apply). */
  iptables?: IptablesSettings;
  /** The port-hijack guard; absent = the daemon does not poll it. */
  guard?: GuardSettings;
  /** SPA doors and how packets reach them; absent = no SPA. */
  spa?: SpaConfig;
  /** Security Groups of `gate = "aws-sg"` doors; absent = no AWS. */
  aws?: AwsSettings;
  /** The Prometheus endpoint (`[metrics]`); absent = no metrics are served. */
  metrics?: MetricsSettings;
  /** Bastions sharing grants and replay digests on one Redis (`[fleet]`); absent = this host alone. */
  fleet?: FleetSettings;
}

// ---- [fleet] (fleet-config.ts)

export interface FleetSettings {
  /** The fleet: every member with this name on this Redis shares grants and replay digests. */
  name: string;
  /** This bastion's name in the fleet (default: the hostname). */
  member: string;
  /** `redis://`, `rediss://`, a unix socket path, `redis-sentinel://host:port,…/master` or `redis-cluster://host:port,…`. */
  redisUrl: string;
}

// ---- [metrics] (metrics-config.ts)

export interface MetricsSettings {
  /** Where `serve` answers `GET /metrics`: an IP address (IPv6 without brackets) and a TCP port. */
  listen: { host: string; port: number };
}

export interface DaemonSettings {
  /** Interfaces to capture on; empty = every non-loopback interface that is up. */
  interfaces: string[];
  logFormat: LogFormat;
  logLevel: string;
  logFile?: string;
  /** knockd's UseSyslog: log lines also go to syslog (ident knockgate). */
  useSyslog: boolean;
  pidFile?: string;
  /** Grant journal and other state that must survive a restart. */
  stateDir: string;
  /** Unix socket `knockgate status` talks to. */
  controlSocket: string;
  /** Bound of the knock tracker's table (sources with a knock in progress). */
  maxTrackedSources: number;
}

export interface DoorConfig {
  knock: KnockDoor;
  action: DoorAction;
  /** Where the sequence comes from when it is not fixed (time-derived, one-time); absent = fixed. */
  sequenceSource?: SequenceSource;
}

export type DoorAction = GateAction | KnockdCommandAction;

/** knockgate's own doors: open ports through a gate for a while. */
export interface GateAction {
  kind: 'gate';
  gate: 'nftables' | 'iptables' | 'command' | 'aws-sg';
  open: PortSpec[];
  openForMs: number;
  /** The door's own commands; present exactly when `gate` is `command`. */
  commands?: DoorCommands;
  /** `one_shot`, `grant_prefix`, `grant_prefix6`; absent = the one address, for the whole grant. */
  scope?: GrantScope;
}

/** Start/stop commands of a `gate = "command"` door: start when it opens, stop when the grant ends. */
export interface DoorCommands {
  start?: CommandTemplate;
  stop?: CommandTemplate;
  /** Each command is killed (with its process group) after this long. */
  timeLimitMs: number;
}

/** A knockd.conf door: shell commands with %IP%, exactly as knockd runs them. */
export interface KnockdCommandAction {
  kind: 'knockd-command';
  start4?: string;
  start6?: string;
  stop4?: string;
  stop6?: string;
  /** Delay between start and stop command (knockd `cmd_timeout`, default 10 s). */
  cmdTimeoutMs: number;
}

export interface NftablesSettings {
  /** Name of knockgate's own table (family inet). */
  table: string;
  /**
   * Opt-in for hosts that drop by default: a host chain (e.g. `inet filter input`) into which
   * knockgate inserts one accept rule for packets its own chain marked as granted.
   */
  hostChain?: { family: 'inet' | 'ip' | 'ip6'; table: string; chain: string };
  /** Packet mark (and mask) knockgate sets on granted NEW connections. */
  mark: number;
  /** On a clean stop: `close` removes grants and keeps ports protected; `keep` leaves grants to expire; `remove` deletes the table. */
  onStop: 'close' | 'keep' | 'remove';
}

export interface IptablesSettings {
  /** knockgate's chain in the filter table, jumped to from INPUT; grants live in `<chain>-grants`. */
  chain: string;
  /** Programs for IPv4 and IPv6 (e.g. iptables-legacy); `<program>-restore` must exist beside each. */
  iptables: string;
  ip6tables: string;
  /** Same meaning as for nftables: close = drop grants, keep = let them expire, remove = delete the chains. */
  onStop: 'close' | 'keep' | 'remove';
}

// ---- [spa] and [spa_door.NAME] (spa-config.ts), or fwknop's access.conf (fwknop-access-conf.ts)

/** How SPA packets reach the daemon, which digests it remembers, and its doors. */
export interface SpaConfig {
  /** The file the doors came from (knockgate TOML or an access.conf). */
  source: string;
  sensor: { kind: 'pcap'; port: number; interfaces: string[] } | { kind: 'udp'; port: number; bind?: string };
  /** Default packet age window of the doors; undefined = aging off (fwknop ENABLE_SPA_PACKET_AGING N). */
  maxPacketAgeMs: number | undefined;
  replay: { kind: 'file'; path: string } | { kind: 'redis'; url: string } | { kind: 'memory' };
  doors: SpaDoorConfig[];
  /** What runs but deserves the operator's look; `check` prints them, `serve` logs them at start. */
  warnings?: SpaConfigWarning[];
  /** The config file whose text holds keys (an access.conf, a TOML with inline keys): its mode is checked where it is read. */
  keysInlineIn?: string;
}

/** A setting that is valid but probably not what was meant (a stanza whose ACCESS_EXPIRE has passed). */
export interface SpaConfigWarning {
  file: string;
  line?: number;
  field?: string;
  message: string;
}

/**
 * An SPA door: fwknop's format with the door's shared keys, or knockgate's SSH-key format (`door_key`)
 * with the files that say whom it trusts. Both share the access rules, the gate and the replay store.
 */
export type SpaDoorConfig = SpaDoorBase & ({ keys: SpaKeys; sshKey?: undefined } | { sshKey: SshKeyDoorFiles; keys?: undefined });

export interface SpaDoorBase {
  rules: SpaAccessRules;
  /** The gate its grants go through, as for knock doors. */
  gate: GateAction['gate'];
  /** The door's start/stop commands; present exactly when `gate` is `command`. */
  commands?: DoorCommands;
  /** As for knock doors: `one_shot`, `grant_prefix`, `grant_prefix6`. */
  scope?: GrantScope;
}

/**
 * Where one of an SSH-key door's keys is: a file (`door_key`, `authorized_keys`, `trusted_user_ca`),
 * or the file's text written into the config (`door_key_text`, …), as a Lambda receiver's
 * KNOCKGATE_CONFIG carries it; `field` names that key for messages.
 */
export type SshKeySource = { file: string; text?: undefined } | { text: string; in: { file: string; field: string }; file?: undefined };

/** Where an SSH-key door's keys are; read when the daemon starts or reloads (store/ssh-key-ring.ts), not here. */
export interface SshKeyDoorFiles {
  /** `door_key` / `door_key_text`: the door's X25519 private key and pre-auth key (`knockgate keygen --door-key`). */
  doorKey: SshKeySource;
  /** `authorized_keys` / `authorized_keys_text`: OpenSSH public keys, the comment naming each operator. */
  authorizedKeys?: SshKeySource;
  /** `trusted_user_ca` / `trusted_user_ca_text`: CA public keys whose user certificates open the door. */
  trustedUserCa?: SshKeySource;
  /** `principals`: a certificate must name one of these. */
  principals: string[];
}

// ---- [aws] (aws-config.ts)

/**
 * The `[aws]` section: the Security Groups `gate = "aws-sg"` doors open, and the region.
 * Credentials and endpoints are not configured here: the SDK's default provider chain and
 * AWS_ENDPOINT_URL_* apply, as with every AWS tool.
 */
export interface AwsSettings {
  /** Absent: AWS_REGION / AWS_DEFAULT_REGION / the profile, as the SDK resolves it. */
  region?: string;
  securityGroups: string[];
  /** On a clean stop: `close` revokes the rules this daemon holds; `keep` leaves them to expire by sweep. */
  onStop: 'close' | 'keep';
}

// ---- [guard] (guard-config.ts): what must listen where, who must own it, and which neighbours to watch

/** Who must own a listening socket; every given field must match, an absent one is not checked. */
export interface OwnerSpec {
  /** systemd unit: the first component below the slices of the owner's cgroup path (`sshd.service`). */
  unit?: string;
  /** cgroup v2 path; the owner's cgroup is this one or below it (`/system.slice/sshd.service`). */
  cgroup?: string;
  /** Executable path as /proc/<pid>/exe shows it. */
  exe?: string;
  /** The socket's uid (the creator's), as /proc/net shows it. */
  uid?: number;
}

export interface PortExpectation {
  /** The table name, `[guard.expect.NAME]`. */
  name: string;
  proto: Proto;
  port: number;
  /** Only this local address; absent = the port on every address and both families. */
  address?: string;
  owner: OwnerSpec;
  /** `missing` is reported when nobody listens. */
  mustListen: boolean;
  /** Deliver the port's new input only to sockets of the owner's cgroup (nftables `socket cgroupv2`). */
  enforce: boolean;
  /**
   * Several processes may listen on the port (reuseport workers, a pre-fork server): `co-bound`
   * is not reported while every one of them matches the owner.
   */
  shared: boolean;
  /**
   * The network namespace this expectation is about (an `ip netns` name, or a container's name or
   * id as the guard names it); absent = the guard's own.
   */
  netns?: string;
}

export interface GuardSettings {
  pollIntervalMs: number;
  /** Report listeners on ports no expectation declares. */
  reportUnexpected: boolean;
  /** Run on every change of a finding (appeared or cleared). */
  alert?: { argv: [string, ...string[]]; timeoutMs: number };
  expectations: PortExpectation[];
  arp: ArpWatchSettings;
  /** Scan the sockets of every network namespace on the host, not only the guard's own. */
  allNetns: boolean;
  /** The rogue-DHCP watch (`[guard.dhcp]`); absent = off. */
  dhcp?: DhcpWatchSettings;
  /** The IPv6 router and neighbour watch (`[guard.ipv6]`); absent = off. */
  ipv6?: Ipv6WatchSettings;
}

export interface DhcpWatchSettings {
  /** The DHCP servers expected on the link (their address); empty = none is. */
  servers: string[];
  /** Where to watch and probe; empty = the daemon's interfaces. */
  interfaces: string[];
  /** Between two DHCPDISCOVER probes of the daemon. */
  probeIntervalMs: number;
  /** How long one probe waits for answers (`guard check`). */
  probeWaitMs: number;
}

export interface Ipv6WatchSettings {
  /** Link-local addresses of the routers expected to advertise. */
  routers: string[];
  /** Watch the IPv6 default gateway(s) in the neighbour table. */
  gateway: boolean;
  /** Other IPv6 neighbours whose MAC must not change. */
  neighbours: string[];
  interfaces: string[];
  /** Between two router solicitations of the daemon. */
  probeIntervalMs: number;
  /** How long one solicitation waits for advertisements (`guard check`). */
  probeWaitMs: number;
}

export interface ArpWatchSettings {
  /** Watch this namespace's IPv4 default gateway(s). */
  gateway: boolean;
  /** Other IPv4 neighbours whose MAC must not change. */
  neighbours: string[];
  /** Interfaces on which ARP is captured; empty = the daemon's capture interfaces. */
  interfaces: string[];
}
