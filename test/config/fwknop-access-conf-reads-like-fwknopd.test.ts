import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { accessExpireDate, parseFwknopAccessConf } from '../../src/config/fwknop-access-conf.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const keys = `KEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\n`;
const problems = (text: string): string => {
  try {
    parseFwknopAccessConf(text, 'access.conf', 120_000);
    return '';
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
};

describe('access.conf is read as fwknopd 2.6.10 reads it', () => {
  const tz = process.env.TZ;
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it('takes variable names with a trailing colon (SOURCE: ANY;), as fwknop\'s own test configs write them', () => {
    const { doors } = parseFwknopAccessConf(`SOURCE: ANY;\nOPEN_PORTS: tcp/22;\nKEY_BASE64: ${KEY};\nHMAC_KEY_BASE64: ${HMAC};\nFW_ACCESS_TIMEOUT: 45;\n`, 'access.conf', 120_000);
    expect(doors[0]?.rules).toMatchObject({ sources: [], ports: { mode: 'subset', open: [{ proto: 'tcp', port: 22 }] }, accessTimeoutMs: 45_000 });
  });

  it('names every bad item of a list, not only the first', () => {
    const text = problems(`SOURCE 10.0.0.1, 300.1.1.1, 10.0.0.0/40, ANYWHERE\nOPEN_PORTS tcp/22, tcp/0, icmp/8, udp/70000\n${keys}`);
    expect(text).toContain('access.conf:1: SOURCE: "300.1.1.1", "10.0.0.0/40", "ANYWHERE" are not addresses');
    expect(text).toContain('access.conf:2: OPEN_PORTS: "tcp/0", "icmp/8", "udp/70000" are not tcp/PORT or udp/PORT');
  });

  it('reads ACCESS_EXPIRE in local time, at the start of the day as mktime with tm_isdst = 0 gives it', () => {
    process.env.TZ = 'America/New_York';
    // Winter: local midnight is 05:00 UTC; summer time: 00:00 standard time is 01:00 local, 05:00 UTC.
    expect(accessExpireDate('01/15/2030')).toBe(Date.UTC(2030, 0, 15, 5));
    expect(accessExpireDate('07/01/2030')).toBe(Date.UTC(2030, 6, 1, 5));
    process.env.TZ = 'Asia/Tokyo';
    expect(accessExpireDate('1/2/2030')).toBe(Date.UTC(2030, 0, 1, 15));
  });

  it('refuses an impossible date with what fwknopd would silently read, and warns of one already past', () => {
    expect(problems(`SOURCE ANY\n${keys}ACCESS_EXPIRE 13/45/2020\n`)).toContain('access.conf:4: ACCESS_EXPIRE: "13/45/2020" is not a date (MM/DD/YYYY: month 1-12, then a day of that month); fwknopd would silently read it as 02/14/2021');
    expect(problems(`SOURCE ANY\n${keys}ACCESS_EXPIRE 2020-01-01\n`)).toContain('access.conf:4: ACCESS_EXPIRE: "2020-01-01" is not a date: write MM/DD/YYYY');
    const { doors, warnings } = parseFwknopAccessConf(`SOURCE ANY\n${keys}ACCESS_EXPIRE 01/01/2020\n`, 'access.conf', 120_000);
    expect(doors).toHaveLength(1);
    expect(warnings).toEqual([{ file: 'access.conf', line: 4, field: 'ACCESS_EXPIRE', message: expect.stringMatching(/^stanza #1 expired at 2020-01-01 00:00 local time and refuses every packet: remove the stanza or give a later date$/) }]);
    expect(parseFwknopAccessConf(`SOURCE ANY\n${keys}ACCESS_EXPIRE 12/31/2037\n`, 'access.conf', 120_000).warnings).toEqual([]);
  });

  it('refuses published, missing and weak HMAC keys at their line, with the fix', () => {
    const published = problems('SOURCE ANY\nKEY_BASE64 4QHBPi6mttcdrUO2/97IxuObBADnfL43Z/eN4L+bZbs=\nHMAC_KEY_BASE64 kN2Ki8vWEewKclcHeiFMVgI2DCaDXOwEtJ7DemMtkZRlpphgn8KuGrzzAtAckKSAvhC2zitnyFSqqALtoZCBhQ==\n');
    expect(published).toContain('access.conf:2: KEY_BASE64: is a published example key: anyone who read it can open this door; make new ones with `knockgate keygen` or `fwknop --key-gen`');
    expect(published).toContain('access.conf:3: HMAC_KEY_BASE64: is a published example key');
    expect(problems(`SOURCE ANY\nKEY_BASE64 ${KEY}\n`)).toContain('access.conf:1: SOURCE: stanza #1: no HMAC key: packets would be decrypted before anything authenticates them');
    expect(problems(`SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY fwknophmac\n`)).toContain('access.conf:3: HMAC_KEY: the HMAC key is 10 bytes, fewer than the 32 bytes of HMAC-SHA256 (RFC 2104)');
    expect(problems(`SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${randomBytes(40).toString('base64')}\nHMAC_DIGEST_TYPE sha512\n`)).toContain('the HMAC key is 40 bytes, fewer than the 64 bytes of HMAC-SHA512');
  });
});
