import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EC2_MAX_ATTEMPTS } from '../gates/aws-sg.js';

/**
 * SDK clients configured the AWS way: credentials from the default provider chain (environment,
 * profile, SSO, container or instance role), region from `region` or AWS_REGION / the profile,
 * endpoint from AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL when set.
 */
export function createEc2Client(region?: string): EC2Client {
  return new EC2Client({ ...(region ? { region } : {}), maxAttempts: EC2_MAX_ATTEMPTS });
}

export function createDynamoDbClient(region?: string): DynamoDBClient {
  return new DynamoDBClient({ ...(region ? { region } : {}) });
}
