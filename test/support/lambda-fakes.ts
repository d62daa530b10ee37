import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { FakeEc2 } from './fake-ec2.js';

/** What the Lambda functions talk to, on 127.0.0.1: our fake EC2 and dynalite with the replay table made. */
export interface LambdaFakes {
  ec2: FakeEc2;
  /** What a Lambda sees: region, credentials, and the endpoints pointed at the fakes the AWS way. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startLambdaFakes(replayTable: string): Promise<LambdaFakes> {
  const ec2 = new FakeEc2();
  const ec2Endpoint = await ec2.start();
  const dynamo: Server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => dynamo.listen(0, '127.0.0.1', resolve));
  const dynamoEndpoint = `http://127.0.0.1:${(dynamo.address() as AddressInfo).port}`;
  const env = {
    KNOCKGATE_REPLAY_TABLE: replayTable,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDFAKE',
    AWS_SECRET_ACCESS_KEY: 'fake',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_EC2: ec2Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
  };
  const ddb = new DynamoDBClient({ region: env.AWS_REGION, endpoint: dynamoEndpoint, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
  await ddb.send(
    new CreateTableCommand({
      TableName: replayTable,
      AttributeDefinitions: [{ AttributeName: 'digest', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'digest', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  ddb.destroy();
  return {
    ec2,
    env,
    async stop() {
      await ec2.stop();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}

/** The receiver's TOML: one Security Group and one SPA door opening 22/tcp with these keys. */
export function receiverConfig(opts: { sg: string; door: string; key: string; hmacKey: string; openFor: string; extra?: string[] }): string {
  return [
    '[aws]',
    `security_groups = ["${opts.sg}"]`,
    '',
    `[spa_door.${opts.door}]`,
    `key_base64 = "${opts.key}"`,
    `hmac_key_base64 = "${opts.hmacKey}"`,
    'open = ["22/tcp"]',
    `open_for = "${opts.openFor}"`,
    ...(opts.extra ?? []),
    '',
  ].join('\n');
}
