import { ConditionalCheckFailedException, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { explainAwsError } from '../aws/aws-errors.js';
import { MAX_REPLAY_DIGESTS, ReplayWindow, type RememberOutcome } from '../core/replay-window.js';
import { monotonicNow } from './clock.js';
import { StoreError } from './grant-store.js';
import type { ReplayStore } from './replay-store.js';

/** Table layout: partition key `digest` (S); `expires_at` (N, ms) decides; `ttl` (N, s) lets DynamoDB delete the item later. */
export const DIGEST_ATTRIBUTE = 'digest';
export const EXPIRES_AT_ATTRIBUTE = 'expires_at';
export const TTL_ATTRIBUTE = 'ttl';

export interface DynamoDbReplayStoreOptions {
  client: DynamoDBClient;
  table: string;
  /** Bound of the in-memory mirror of digests this process has seen. */
  bound?: number;
}

/**
 * Replay digests in a DynamoDB table, shared by concurrent stateless receivers (Lambda
 * invocations): one conditional PutItem per valid packet decides atomically who saw it first.
 * DynamoDB's TTL deletion runs up to days late, so the condition also lets an item whose
 * `expires_at` has passed be taken again, and never relies on the deletion having happened.
 */
export class DynamoDbReplayStore implements ReplayStore {
  readonly name = 'dynamodb';
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly mirror: ReplayWindow;

  constructor(opts: DynamoDbReplayStoreOptions) {
    this.client = opts.client;
    this.table = opts.table;
    this.mirror = new ReplayWindow(opts.bound ?? MAX_REPLAY_DIGESTS);
  }

  seen(digest: string, now: number): boolean {
    return this.mirror.has(digest, now, monotonicNow);
  }

  async remember(digest: string, expiresAt: number, now: number): Promise<RememberOutcome> {
    if (this.mirror.has(digest, now, monotonicNow)) return 'replay';
    if (expiresAt <= now) return 'added';
    const forever = !Number.isFinite(expiresAt);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            [DIGEST_ATTRIBUTE]: { S: digest },
            // A digest kept forever (aging off) carries neither, so the condition below never frees it.
            ...(forever
              ? {}
              : {
                  [EXPIRES_AT_ATTRIBUTE]: { N: String(Math.ceil(expiresAt)) },
                  [TTL_ATTRIBUTE]: { N: String(Math.ceil(expiresAt / 1000)) },
                }),
          },
          ConditionExpression: 'attribute_not_exists(#d) OR #e <= :now',
          ExpressionAttributeNames: { '#d': DIGEST_ATTRIBUTE, '#e': EXPIRES_AT_ATTRIBUTE },
          ExpressionAttributeValues: { ':now': { N: String(Math.floor(now)) } },
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        this.mirror.remember(digest, expiresAt, now, monotonicNow());
        return 'replay';
      }
      throw new StoreError(`DynamoDB replay store (table ${this.table}) refused ${digest.slice(0, 8)}…: ${err instanceof Error ? `${err.name}: ${explainAwsError(err, { call: 'PutItem', service: 'dynamodb' }) ?? err.message}` : String(err)}`, undefined, {
        cause: err,
      });
    }
    // The mirror only saves round trips; the table holds the truth, so a full mirror loses nothing.
    this.mirror.remember(digest, expiresAt, now, monotonicNow());
    return 'added';
  }

  stats(): { digests: number; bound: number } {
    return { digests: this.mirror.size, bound: this.mirror.bound };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
