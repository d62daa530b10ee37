/**
 * The AWS SDK's failures that an operator fixes by setting something, in one line that says
 * what: the SDK's own words ("Region is missing", "Could not load credentials from any
 * providers") name neither the variable nor the config key. Recognised by the SDK's error names
 * and AWS's error codes (EC2 and DynamoDB spell some differently); anything else is left as the
 * SDK says it. The caller adds the code, as it does for every AWS error.
 */

/** AWS codes for a caller AWS knows but does not allow (EC2, DynamoDB, STS/IAM). */
const DENIED: ReadonlySet<string> = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException']);
/** AWS codes for credentials AWS does not recognise (a wrong key, a key of another partition). */
const UNKNOWN_CREDENTIALS: ReadonlySet<string> = new Set(['AuthFailure', 'InvalidClientTokenId', 'UnrecognizedClientException', 'SignatureDoesNotMatch', 'IncompleteSignature']);
/** AWS codes for temporary credentials past their expiry. */
const EXPIRED: ReadonlySet<string> = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired']);

export interface AwsErrorContext {
  /** The API call that failed, e.g. `DescribeSecurityGroupRules`. */
  call: string;
  /** The IAM action prefix of the service: `ec2`, `dynamodb`. */
  service: 'ec2' | 'dynamodb';
}

/** What to set, in one line, for an SDK error that a setting fixes; undefined for any other error. */
export function explainAwsError(err: unknown, { call, service }: AwsErrorContext): string | undefined {
  if (!(err instanceof Error)) return undefined;
  if (/^Region is missing/.test(err.message)) {
    return 'no AWS region is set: set AWS_REGION (or region = "eu-west-1" in [aws] of the config, or region in the profile AWS_PROFILE names)';
  }
  if (err.name === 'CredentialsProviderError' || /^Could not load credentials/.test(err.message)) {
    return 'no AWS credentials found by the SDK\'s chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE in ~/.aws, SSO, the instance or task role): set AWS_PROFILE or the keys, or give the host a role';
  }
  if (err.name === 'TokenProviderError' || EXPIRED.has(err.name)) {
    return `the AWS credentials have expired: renew them (aws sso login --profile …, fresh session keys) or use a role, which renews itself`;
  }
  if (UNKNOWN_CREDENTIALS.has(err.name)) {
    return `AWS does not recognise these credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile AWS_PROFILE names`;
  }
  if (DENIED.has(err.name)) {
    return `AWS denied ${call}: the credentials' identity needs ${service}:${call} (deploy/aws/template.yaml lists what knockgate calls)`;
  }
  return undefined;
}
