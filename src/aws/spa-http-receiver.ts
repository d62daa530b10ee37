import { describeError } from '../core/knockgate-error.js';
import { replayExpiry } from '../core/replay-window.js';
import { describeIdentity, grantSource, type Identity } from '../core/grant.js';
import { scopedGrant, type GrantScope } from '../core/grant-scope.js';
import { grantForSpa, originAllowed, type SpaAccessDecision, type SpaAccessRules, type SpaCloseDecision, type SpaPacketOrigin } from '../core/spa-access.js';
import { matchSpaDoor } from '../core/spa-door-match.js';
import { ONE_SHOT_ANSWER } from '../core/spa-close.js';
import { spaReplayDigest, undecodedReason, type SpaCodec } from '../core/spa/index.js';
import type { DecodedSpa } from '../core/spa/spa-message.js';
import { decideSshSpaPacket, type SshSpaDoorCandidate } from '../core/sshspa/index.js';
import { GrantDesk } from '../daemon/grant-desk.js';
import type { Gate } from '../gates/gate.js';
import type { Logger } from '../log/logger.js';
import type { Outcomes } from '../metrics/outcome.js';
import type { ReplayStore } from '../store/replay-store.js';
import { spaRequestFromEvent } from './lambda-http-event.js';
import { closeOneShot } from './one-shot-close.js';

/** One SPA door of the receiver: its keys (as a codec) and its access.conf-style rules. */
export interface SpaHttpDoor {
  codec: SpaCodec;
  rules: SpaAccessRules;
  /** grant_prefix / grant_prefix6, one_shot (the client's close request uses the grant up: the receiver sees no connection). */
  scope?: GrantScope;
}

/** What API Gateway and Function URLs turn into the HTTP response. */
export interface SpaHttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** What a grant needs of a door, fwknop or SSH-key. */
export type SpaHttpDoorPolicy = Pick<SpaHttpDoor, 'rules' | 'scope'>;

export interface SpaHttpReceiverOptions {
  doors: SpaHttpDoor[];
  /** SSH-key doors by door id, as the daemon holds them: key pair, authorized keys and CAs, rules. */
  sshDoors?: ReadonlyMap<number, SshSpaDoorCandidate<SpaHttpDoorPolicy>>;
  replay: ReplayStore;
  gate: Gate;
  logger: Logger;
  outcomes?: Outcomes;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
/**
 * Every refusal looks the same from outside (garbage, wrong key, replay, policy), as a UDP SPA
 * server's silence does; the reason goes to the log only.
 */
const REFUSED: SpaHttpResponse = { statusCode: 403, headers: TEXT, body: 'refused\n' };
/** A valid packet the receiver could not act on (EC2 or DynamoDB failing): the client may send a new one. */
const UNAVAILABLE: SpaHttpResponse = { statusCode: 503, headers: TEXT, body: 'not opened; try again with a new packet\n' };
/** The same for a close request: the rule is still there until the client's next close request or its expiry. */
const NOT_CLOSED: SpaHttpResponse = { statusCode: 503, headers: TEXT, body: 'not closed; try again with a new packet\n' };

/**
 * SPA over HTTPS for stateless receivers (a Lambda behind a Function URL or API Gateway): the
 * same steps and core modules as the daemon — source pre-filter, replay check before any
 * cryptography, decode per door, fwknopd's access decision, the digest made durable before the
 * grant (so of two invocations racing with one packet exactly one opens), then the gate.
 */
export class SpaHttpReceiver {
  private readonly doors: SpaHttpDoor[];
  private readonly sshDoors: ReadonlyMap<number, SshSpaDoorCandidate<SpaHttpDoorPolicy>>;
  private readonly replay: ReplayStore;
  private readonly gate: Gate;
  private readonly logger: Logger;
  /** The same owner of grants as the daemon's: its bound, its open line, its counts. */
  private readonly desk: GrantDesk;

  constructor(opts: SpaHttpReceiverOptions) {
    this.doors = opts.doors;
    this.sshDoors = opts.sshDoors ?? new Map();
    this.replay = opts.replay;
    this.gate = opts.gate;
    this.logger = opts.logger;
    this.desk = new GrantDesk({ logger: opts.logger, gates: () => [opts.gate], ...(opts.outcomes && { outcomes: opts.outcomes }) });
  }

  async handle(event: unknown, now: number): Promise<SpaHttpResponse> {
    const parsed = spaRequestFromEvent(event);
    if (!parsed.ok) return this.refuse({ reason: 'bad-request', detail: parsed.reason });
    const { packet, sourceIp: src } = parsed.request;
    const origin = { src };
    if (typeof packet !== 'string') return this.handleSshKey(packet, origin, now);
    const doors = this.doors.filter((d) => !originAllowed(d.rules, origin));
    if (doors.length === 0) return this.refuse({ src, reason: 'source-not-allowed', detail: `no door accepts source ${src}` });

    const digest = spaReplayDigest(packet);
    if (this.replay.seen(digest, now)) return this.refuse({ src, reason: 'replay', detail: 'digest already used' });

    const match = matchSpaDoor(packet, origin, doors.map((d) => ({ door: d, codec: d.codec, rules: d.rules })), now);
    if (!match.decoded) return this.refuse({ src, reason: 'no-door-decodes', detail: 'no door key decodes the packet' });
    const { door, spa, decision } = match;
    return this.admit(src, digest, door, spa, decision, { kind: 'door', door: door.rules.door }, now);
  }

  /** An SSH-key packet: the daemon's decision (door id, pre-auth MAC, replay, signer), then the same steps. */
  private async handleSshKey(packet: Uint8Array, origin: SpaPacketOrigin, now: number): Promise<SpaHttpResponse> {
    const { src } = origin;
    const match = decideSshSpaPacket(packet, origin, this.sshDoors, this.replay, now);
    if (match.decoded) return this.admit(src, match.digest, match.door, match.spa, match.decision, match.identity, now);
    if (match.refusal) return this.refuse({ src, door: match.refusal.door, reason: match.refusal.reason, detail: match.refusal.detail, ...(match.identity && { identity: match.identity }) });
    return this.refuse({ src, reason: undecodedReason(match.error), detail: match.error.message });
  }

  /** A packet a door decoded: the digest made durable, the decision, then the gate. */
  private async admit(src: string, digest: string, door: SpaHttpDoorPolicy, spa: DecodedSpa, decision: SpaAccessDecision, identity: Identity, now: number): Promise<SpaHttpResponse> {
    // As fwknopd and the daemon do: a packet is used once it decrypts, whatever the checks after say.
    let remembered;
    try {
      remembered = await this.replay.remember(digest, replayExpiry(spa.timestamp, door.rules.maxPacketAgeMs), now);
    } catch (err) {
      this.logger.error({ src, outcome: 'store-error', err: describeError(err) }, 'replay store failed; packet not acted on');
      return UNAVAILABLE;
    }
    if (remembered !== 'added') return this.refuse({ src, reason: remembered, detail: remembered === 'replay' ? 'digest already used' : 'replay store full', identity });
    if (!decision.ok) return this.refuse({ src, door: decision.door, reason: decision.reason, detail: decision.detail, identity });
    if (decision.kind === 'close') return this.close(decision, door.scope, identity, now);
    if (decision.kind === 'command' || decision.nat) {
      return this.refuse({ src, door: decision.door, reason: 'unsupported', detail: 'a Security Group can only open ports: commands and NAT are refused', identity });
    }

    const grant = { ...scopedGrant(grantForSpa(decision, now), door.scope), identity };
    const until = new Date(grant.expiresAt).toISOString();
    const result = await this.desk.open({ grant, gate: this.gate, askedAt: now, via: 'spa', fields: { until } });
    if (result.outcome === 'refused') {
      this.logger.warn({ src, door: grant.door, outcome: 'refused', reason: 'busy', detail: result.detail }, 'SPA over HTTP refused: busy');
      return UNAVAILABLE;
    }
    if (result.outcome === 'gate-error') {
      this.logger.error({ src: grant.src, door: grant.door, outcome: 'gate-error', err: describeError(result.err) }, 'gate failed to open');
      return UNAVAILABLE;
    }
    const ports = grant.ports.map((p) => `${p.port}/${p.proto}`);
    // A second line, which clients from before one-shot doors do not read.
    return { statusCode: 200, headers: TEXT, body: `open ${ports.join(',')} for ${grantSource(grant)} until ${until}\n${grant.oneShot ? `${ONE_SHOT_ANSWER}\n` : ''}` };
  }

  private async close(decision: SpaCloseDecision, scope: GrantScope | undefined, identity: Identity, now: number): Promise<SpaHttpResponse> {
    const result = await closeOneShot(decision, scope, this.gate, this.desk, now, identity);
    if (result.outcome === 'refused') return this.refuse({ src: decision.src, door: decision.door, reason: result.reason, detail: result.detail, identity });
    if (result.outcome === 'gate-error') {
      this.logger.error({ src: decision.src, door: decision.door, outcome: 'gate-error', err: describeError(result.err) }, 'gate failed to close the one-shot grant');
      return NOT_CLOSED;
    }
    const ports = result.grant.ports.map((p) => `${p.port}/${p.proto}`);
    return { statusCode: 200, headers: TEXT, body: `closed ${ports.join(',')} for ${result.grant.src}\n` };
  }

  private refuse({ identity, ...why }: { src?: string; door?: string; reason: string; detail: string; identity?: Identity }): SpaHttpResponse {
    // The identity field as the daemon's refusal lines write it: `ssh-key alice@laptop SHA256:…`.
    this.logger.info({ ...why, ...(identity && { identity: describeIdentity(identity) }), outcome: 'refused' }, `SPA over HTTP refused: ${why.reason}`);
    return REFUSED;
  }
}
