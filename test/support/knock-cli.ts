import type { LabHost } from '../../src/lab/netns.js';
import { buildCommandCli, type CliResult } from './command-cli.js';

export type { CliResult } from './command-cli.js';

export interface KnockCli {
  /** Run `knockgate knock ARGS` inside the host's namespace; never throws on a non-zero exit. */
  run(host: LabHost, args: string[], timeoutMs?: number): Promise<CliResult>;
  /** Remove the private build. */
  dispose(): Promise<void>;
}

/** The knock command in a private build (see buildCommandCli). */
export async function buildKnockCli(): Promise<KnockCli> {
  const cli = await buildCommandCli('knock');
  return { run: (host, args, timeoutMs) => cli.run(host, args, { timeoutMs }), dispose: cli.dispose };
}
