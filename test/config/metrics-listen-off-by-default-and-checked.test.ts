import { describe, expect, it } from 'vitest';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { configRefusal } from '../support/config-refusal.js';
import { metricsChangeNeedingRestart } from '../../src/config/metrics-config.js';

const config = (extra: string) => `[door.ssh]
sequence = ["7000", "8000", "9000"]
open = ["22/tcp"]
${extra}`;


describe('[metrics] listen', () => {
  it('is off unless the config has a [metrics] section', () => {
    expect(parseKnockgateToml(config(''), 'k.toml').metrics).toBeUndefined();
  });

  it('takes an IPv4 address or a bracketed IPv6 address and a port', () => {
    expect(parseKnockgateToml(config('[metrics]\nlisten = "127.0.0.1:9464"\n'), 'k.toml').metrics).toEqual({ listen: { host: '127.0.0.1', port: 9464 } });
    expect(parseKnockgateToml(config('[metrics]\nlisten = "[::1]:9464"\n'), 'k.toml').metrics).toEqual({ listen: { host: '::1', port: 9464 } });
  });

  it.each(['localhost:9464', '::1:9464', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '[127.0.0.1]:9464', '300.0.0.1:9464'])('refuses %s naming file, line and field', (listen) => {
    const err = configRefusal(config(`[metrics]\nlisten = "${listen}"\n`));
    expect(err.problems).toEqual([expect.objectContaining({ line: 5, field: 'metrics.listen', message: expect.stringMatching(/"127\.0\.0\.1:9464" or "\[::1\]:9464"/) })]);
    expect(err.message).toMatch(/k\.toml:5/);
  });

  it('names an unknown key in the section', () => {
    expect(configRefusal(config('[metrics]\nlisten = "127.0.0.1:9464"\nport = 9464\n')).problems).toEqual([expect.objectContaining({ line: 6, field: 'metrics.port' })]);
  });

  it('a reload that changes it needs a restart, and says which way', () => {
    const at = (listen: string) => parseKnockgateToml(config(`[metrics]\nlisten = "${listen}"\n`), 'k.toml').metrics;
    expect(metricsChangeNeedingRestart(at('127.0.0.1:9464'), at('127.0.0.1:9464'))).toBeUndefined();
    expect(metricsChangeNeedingRestart(at('127.0.0.1:9464'), at('[::1]:9464'))).toMatch(/listen 127\.0\.0\.1:9464 → listen \[::1\]:9464.*restart knockgate/);
    expect(metricsChangeNeedingRestart(undefined, at('[::1]:9464'))).toMatch(/none → listen/);
  });
});
