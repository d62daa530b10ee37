import { Option, type Command } from 'commander';
import { rm } from 'node:fs/promises';
import { loadConfig, type ConfigSources } from '../../config/load.js';
import type { KnockgateConfig } from '../../config/model.js';
import { describeError } from '../../core/knockgate-error.js';
import { EXIT_CONFIG } from '../errors.js';
import { ControlServer } from '../../daemon/control-server.js';
import { buildParts } from '../../daemon/build-parts.js';
import { Daemon } from '../../daemon/daemon.js';
import { createLogger, type Logger, LOG_FORMATS, LOG_LEVELS, type LogFormat } from '../../log/logger.js';
import { NO_OUTCOMES } from '../../metrics/outcome.js';
import { assertPidFileSafe, writePidFile } from '../../store/safe-file.js';
import { ensureTrustedDir, stateDirsOf } from '../../store/state-dir.js';

interface ServeOptions {
  config?: string;
  knockdConf?: string;
  fwknopAccess?: string;
  fwknopdConf?: string;
  interface?: string[];
  logFormat?: LogFormat;
  logLevel?: string;
  stateDir?: string;
  controlSocket?: string;
  acceptDamagedState?: boolean;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the daemon: watch for knocks and open doors through the gates')
    .option('-c, --config <path>', 'knockgate config file (TOML); without it and --knockd-conf, the built-in default door')
    .option('--knockd-conf <path>', 'run an existing knockd.conf as it is (its commands, %IP%, cmd_timeout)')
    .option('--fwknop-access <path>', 'an existing fwknop access.conf: its stanzas become SPA doors')
    .option('--fwknopd-conf <path>', "fwknopd.conf settings for those doors (capture interface and port, UDP server, packet age, digest file)")
    .option('-i, --interface <name...>', 'capture on these interfaces (overrides the config, like knockd -i)')
    .addOption(new Option('--log-format <format>', 'auto: human on a TTY, JSON lines otherwise').choices(LOG_FORMATS))
    .addOption(new Option('--log-level <level>', 'least severe level logged').choices(LOG_LEVELS))
    .option('--state-dir <dir>', 'grant journal directory (overrides the config; knockd.conf has no such setting)')
    .option('--control-socket <path>', 'unix socket for `knockgate status` (overrides the config)')
    .option(
      '--accept-damaged-state',
      'start even though a journal in the state directory is damaged beyond repair: what can be salvaged is kept, the damaged file is kept beside it, and what was lost (a pending stop, a used SPA packet) is gone. Close by hand what the lost records opened first',
    )
    .addHelpText(
      'after',
      `
State: state_dir must be a directory of the daemon's user that nobody else can write, and the
files in it its own; otherwise serve refuses to start (exit ${EXIT_CONFIG}) and says how to fix it. A
journal damaged beyond repair also stops the start (exit ${EXIT_CONFIG}) until --accept-damaged-state.

Signals: SIGHUP reloads the config (a bad file is reported and the old config keeps running; live
grants are kept; a changed [aws] section is refused: it needs a restart); SIGTERM/SIGINT stop cleanly (grants removed, protected ports left closed unless
nftables.on_stop says otherwise). Open ports close in the kernel on time even if the daemon is killed.

Examples:
  knockgate serve --config /etc/knockgate/knockgate.toml
  knockgate serve --knockd-conf /etc/knockd.conf -i eth0
  knockgate serve --fwknop-access /etc/fwknop/access.conf --fwknopd-conf /etc/fwknop/fwknopd.conf
  knockgate check --config /etc/knockgate/knockgate.toml   # validate first
`,
    )
    .action(async (opts: ServeOptions) => {
      // Signals are taken from the first moment: one that arrives while the daemon starts waits for it.
      const stopRequested = new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      let work: Promise<unknown> = Promise.resolve();
      let daemon: Daemon | undefined;
      let logger: Logger | undefined;
      const sources: ConfigSources = { config: opts.config, knockdConf: opts.knockdConf, fwknopAccess: opts.fwknopAccess, fwknopdConf: opts.fwknopdConf };
      const load = async (): Promise<KnockgateConfig> => withOverrides(await loadConfig(sources), opts);
      process.on('SIGHUP', () => {
        work = work.then(async () => {
          if (!daemon) return;
          try {
            await daemon.reload(await load());
          } catch (err) {
            logger?.error({ outcome: 'reload-failed', err: describeError(err) }, 'reload refused; the previous configuration keeps running');
          }
        });
      });
      // A bad file reaches the CLI's one error mapping: its lines on stderr, exit EX_CONFIG (78).
      const config = await load();
      // State on disk the daemon would act on must be its own before anything starts; refusals map to 78 too.
      for (const { dir, what } of stateDirsOf(config)) await ensureTrustedDir(dir, what);
      if (config.daemon.pidFile) await assertPidFileSafe(config.daemon.pidFile);
      logger = createLogger({ level: config.daemon.logLevel, format: config.daemon.logFormat, file: config.daemon.logFile, syslog: config.daemon.useSyslog });
      const running = new Daemon(config, await buildParts(config, logger, NO_OUTCOMES, { acceptDamagedState: opts.acceptDamagedState === true }));
      const control = new ControlServer(config.daemon.controlSocket, async (op) => {
        if (op === 'status') return running.status();
        throw new Error(`unknown request "${op}" (known: status)`);
      });
      // The socket first: once the daemon logs "started", `knockgate status` must answer.
      await control.listen();
      try {
        await running.start();
      } catch (err) {
        await control.close();
        throw err;
      }
      daemon = running;
      if (config.daemon.pidFile) await writePidFile(config.daemon.pidFile);
      await stopRequested;
      await work;
      await control.close();
      await running.stop();
      if (config.daemon.pidFile) await rm(config.daemon.pidFile, { force: true });
      logger.flush();
    });
}

function withOverrides(config: KnockgateConfig, opts: ServeOptions): KnockgateConfig {
  return {
    ...config,
    daemon: {
      ...config.daemon,
      ...(opts.interface?.length ? { interfaces: opts.interface } : {}),
      ...(opts.logFormat ? { logFormat: opts.logFormat } : {}),
      ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
      ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
      ...(opts.controlSocket ? { controlSocket: opts.controlSocket } : {}),
    },
  };
}
