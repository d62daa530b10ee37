import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../src/store/grant-store.js';
import { DIGEST_ATTRIBUTE, DynamoDbReplayStore, TTL_ATTRIBUTE } from '../src/store/dynamodb-replay-store.js';

const TABLE = 'knockgate-replay';
const NOW = Date.parse('2030-01-01T00:00:00Z');
let server: Server;
let endpoint: string;
const clients: DynamoDBClient[] = [];

function client(): DynamoDBClient {
  const c = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' } });
  clients.push(c);
  return c;
}

/** A fresh store as a new Lambda container would have: nothing in memory, the table shared. */
function store(table = TABLE): DynamoDbReplayStore {
  return new DynamoDbReplayStore({ client: client(), table });
}

beforeAll(async () => {
  server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await client().send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: DIGEST_ATTRIBUTE, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: DIGEST_ATTRIBUTE, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('DynamoDB replay store: a digest is used once across stateless receivers', () => {
  it('the first receiver adds a digest; another receiver (no shared memory) sees a replay', async () => {
    expect(await store().remember('digest-a', NOW + 240_000, NOW)).toBe('added');
    expect(await store().remember('digest-a', NOW + 240_000, NOW + 1_000)).toBe('replay');
  });

  it('of 12 concurrent receivers with the same digest exactly one wins', async () => {
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => store().remember('digest-race', NOW + 240_000, NOW)));
    expect(outcomes.filter((o) => o === 'added')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'replay')).toHaveLength(11);
  });

  it('stores a TTL in epoch seconds, so DynamoDB deletes the item once it cannot be replayed', async () => {
    await store().remember('digest-ttl', NOW + 240_500, NOW);
    const item = await client().send(new GetItemCommand({ TableName: TABLE, Key: { [DIGEST_ATTRIBUTE]: { S: 'digest-ttl' } } }));
    expect(item.Item?.[TTL_ATTRIBUTE]?.N).toBe(String(Math.ceil((NOW + 240_500) / 1000)));
  });

  it('an expired item that TTL deletion has not removed yet does not block the digest', async () => {
    await store().remember('digest-old', NOW + 1_000, NOW);
    expect(await store().remember('digest-old', NOW + 300_000, NOW + 60_000)).toBe('added');
  });

  it('a digest kept forever (packet aging off) stays a replay', async () => {
    await store().remember('digest-forever', Number.POSITIVE_INFINITY, NOW);
    expect(await store().remember('digest-forever', Number.POSITIVE_INFINITY, NOW + 10 * 365 * 86_400_000)).toBe('replay');
  });

  it('answers seen() from memory after its own remember, without a call', async () => {
    const s = store();
    expect(s.seen('digest-mem', NOW)).toBe(false);
    await s.remember('digest-mem', NOW + 240_000, NOW);
    expect(s.seen('digest-mem', NOW)).toBe(true);
    expect(s.stats()).toEqual({ digests: 1, bound: 65_536 });
  });

  it('a missing table is a StoreError (the packet is refused), not a grant', async () => {
    await expect(store('no-such-table').remember('digest-x', NOW + 240_000, NOW)).rejects.toBeInstanceOf(StoreError);
  });
});
