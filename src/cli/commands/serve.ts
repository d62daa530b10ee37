import { Option, type Command } from 'commander';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Server } from 'node:http';
import { loadConfig, type ConfigSources } from '../../config/load.js';
import { formatListen } from '../../config/metrics-config.js';
import { formatSpaWarning } from '../../config/spa-config.js';
import type { KnockgateConfig } from '../../config/model.js';
import { describeError } from '../../core/knockgate-error.js';
import { ControlServer } from '../../daemon/control-server.js';
import { startProblems } from '../../daemon/start-checks.js';
import { systemdNotifier } from '../../daemon/systemd-notify.js';
import { buildParts } from '../../daemon/build-parts.js';
import { Daemon } from '../../daemon/daemon.js';
import { writeStderr } from '../../log/journal-priority.js';
import { createLogger, reopenLogFile, type Logger, LOG_FORMATS, LOG_LEVELS, type LogFormat } from '../../log/logger.js';
import { allOutcomes } from '../../metrics/outcome.js';
import { MAX_REFUSALS, RefusalRing } from '../../metrics/refusal-ring.js';
import { assertPidFileSafe, writePidFile } from '../../store/safe-file.js';
import { ensureTrustedDir, stateDirsOf } from '../../store/state-dir.js';
import { errorExit, EXIT_CONFIG, EXIT_FAILED } from '../errors.js';
import { VERSION } from '../version.js';

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
    .option(
      '--state-dir <dir>',
      'where every state file goes: the command journal (knockd-commands.json), the spent-step journal and the SPA replay journal (unless spa.replay_file or fwknopd.conf DIGEST_FILE names one); overrides daemon.state_dir, and works for a knockd.conf too',
    )
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

Metrics: with [metrics] listen = "127.0.0.1:9464" in the config, GET /metrics answers in the
Prometheus text format (knockgate_knocks_total, knockgate_grants_live, ...; README "Metrics").

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
      // Signals are taken from the first moment: one during start-up ends it (what was opened is closed).
      const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'));
        process.once('SIGINT', () => resolve('SIGINT'));
      });
      let work: Promise<unknown> = Promise.resolve();
      let daemon: Daemon | undefined;
      let logger: Logger | undefined;
      const notifier = systemdNotifier(process.env, (message) => logger?.warn({ outcome: 'notify-failed' }, message));
      const sources: ConfigSources = { config: opts.config, knockdConf: opts.knockdConf, fwknopAccess: opts.fwknopAccess, fwknopdConf: opts.fwknopdConf, stateDir: opts.stateDir && resolve(opts.stateDir) };
      const load = async (): Promise<KnockgateConfig> => withOverrides(await loadConfig(sources), opts);
      process.on('SIGHUP', () => {
        work = work.then(async () => {
          if (!daemon) return;
          notifier.notify('RELOADING=1');
          // logrotate moved the file away: write to the new one, as knockd does on SIGHUP.
          if (logger) reopenLogFile(logger);
          try {
            await daemon.reload(await load());
          } catch (err) {
            logger?.error({ outcome: 'reload-failed', err: describeError(err) }, 'reload refused; the previous configuration keeps running');
          }
          notifier.notify('READY=1');
        });
      });
      // A bad file reaches the CLI's one error mapping (nothing is open yet): its lines on stderr, exit EX_CONFIG (78).
      const config = await load();
      // Everything the host must offer is checked before anything is opened.
      const problems = startProblems(config);
      const first = problems.find((p) => p.kind !== 'door');
      if (first) {
        const more = problems.length > 1 ? ` (and ${problems.length - 1} more: knockgate check lists them)` : '';
        return exitAtOnce(first.kind === 'config' ? EXIT_CONFIG : EXIT_FAILED, `cannot start: ${first.field}: ${first.message}${more}`);
      }
      // State on disk the daemon would act on must be its own before anything starts; refusals map to 78 too.
      for (const { dir, what } of stateDirsOf(config)) await ensureTrustedDir(dir, what);
      if (config.daemon.pidFile) await assertPidFileSafe(config.daemon.pidFile);
      logger = createLogger({
        level: config.daemon.logLevel,
        format: config.daemon.logFormat,
        file: config.daemon.logFile,
        syslog: config.daemon.useSyslog,
        knockdFormat: config.source.kind === 'knockd',
      });
      const log = logger;
      for (const p of problems) log.warn({ outcome: 'door-unusable', field: p.field }, p.message);
      for (const w of config.spa?.warnings ?? []) log.warn({ file: w.file, line: w.line, field: w.field }, `config warning: ${formatSpaWarning(w)}`);
      const opened: { daemon?: Daemon; control?: ControlServer; metrics?: Server; pidFile?: string } = {};
      const starting = (async () => {
        // The refusals `status --refusals` shows are kept where they are counted.
        const refusals = new RefusalRing();
        // prom-client is loaded only here, with a [metrics] section: the client commands never load it.
        const metrics = config.metrics && { settings: config.metrics, prometheus: await import('../../metrics/prometheus.js') };
        const exporter = metrics && new metrics.prometheus.PrometheusOutcomes();
        const outcomes = exporter ? allOutcomes(refusals, exporter) : refusals;
        const running = new Daemon(config, { ...(await buildParts(config, log, outcomes, { acceptDamagedState: opts.acceptDamagedState === true })), version: VERSION });
        opened.daemon = running;
        const control = new ControlServer(config.daemon.controlSocket, async (op, request) => {
          if (op === 'status') return running.status();
          if (op === 'revoke') return running.revoke(controlMatch(request));
          if (op === 'flush') return running.revoke({});
          if (op === 'refusals') return refusals.recent(refusalLimit(request));
          if (op === 'fleet') return (await running.fleetStatus()) ?? null;
          throw new Error(`unknown request "${op}" (known: status, fleet, revoke, flush, refusals)`);
        });
        opened.control = control;
        // The socket first: once the daemon logs "started", `knockgate status` must answer.
        await control.listen();
        if (metrics && exporter) {
          opened.metrics = await metrics.prometheus.serveMetrics(metrics.settings, exporter);
          const listen = formatListen(metrics.settings.listen);
          log.info({ listen }, `metrics served at http://${listen}/metrics`);
        }
        await running.start();
        if (config.daemon.pidFile) {
          opened.pidFile = config.daemon.pidFile;
          await writePidFile(config.daemon.pidFile);
        }
        return running;
      })();
      const outcome = await Promise.race([
        starting.then(
          (running) => ({ running }),
          (error: unknown) => ({ error }),
        ),
        stopRequested.then((signal) => ({ signal })),
      ]);
      if (!('running' in outcome)) {
        // All or nothing: close what was opened (the nft child, sockets, captures), then go.
        const deadline = Date.now() + START_ABORT_MS;
        await withinMs(START_ABORT_MS, async () => {
          if ('signal' in outcome) await withinMs(deadline - Date.now(), () => starting.catch(() => undefined));
          await opened.control?.close();
          await closeServer(opened.metrics);
          await opened.daemon?.stop();
          if (opened.pidFile) await rm(opened.pidFile, { force: true });
        }).catch(() => undefined);
        if ('signal' in outcome) {
          log.info({ outcome: 'stopped', signal: outcome.signal }, `stopped by ${outcome.signal} while starting`);
          return exitAtOnce(0, undefined, log);
        }
        const { code, message } = describeStartError(outcome.error, config);
        log.error({ outcome: 'start-failed', err: message }, `cannot start: ${message}`);
        return exitAtOnce(code, `cannot start: ${message}`, log);
      }
      daemon = outcome.running;
      notifier.notify(`READY=1\nSTATUS=${config.doors.length + (config.spa?.doors.length ?? 0)} door(s) live\nMAINPID=${process.pid}`);
      await stopRequested;
      notifier.notify('STOPPING=1');
      await work;
      await opened.control?.close();
      await closeServer(opened.metrics);
      await daemon.stop();
      if (opened.pidFile) await rm(opened.pidFile, { force: true });
      log.flush();
    });
}

/** Stops the metrics endpoint: no new scrape, and the open ones are cut (a scrape is retried). */
async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** A failed start is over within a second, whatever is stuck (an nft that does not answer, a slow store). */
export const START_ABORT_MS = 800;

async function withinMs<T>(ms: number, f: () => Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))));
  try {
    return await Promise.race([f(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Ends the process now, with one line on stderr: a failed start must not linger (a child process
 * or timer left open would keep it alive, and systemd would think it running).
 */
function exitAtOnce(code: number, line: string | undefined, logger?: Logger): void {
  if (line !== undefined) writeStderr(`knockgate: ${line.replace(/\s*\n\s*/g, '; ')}\n`);
  logger?.flush();
  process.exit(code);
}

/**
 * The one line for an error thrown during start, and its exit status: the CLI's mapping, except
 * that a port taken is said in the operator's words and a path the daemon cannot use is the
 * configuration's (78).
 */
function describeStartError(err: unknown, config: KnockgateConfig): { code: number; message: string } {
  const e = err as NodeJS.ErrnoException & { syscall?: string };
  if (e?.code === 'EADDRINUSE' && e.syscall === 'bind') {
    const port = config.spa?.sensor.port;
    return { code: EXIT_FAILED, message: `SPA port udp/${port ?? '?'} is already in use by another program (\`ss -ulpn 'sport = :${port}'\` shows it); stop it or set spa.port` };
  }
  if (e?.code === 'EACCES' || e?.code === 'EROFS' || e?.code === 'ENOENT') return { code: EXIT_CONFIG, message: describeError(err) };
  const { message, exitCode } = errorExit(err);
  return { code: exitCode, message: message.replace(/^knockgate: /, '') };
}

function withOverrides(config: KnockgateConfig, opts: ServeOptions): KnockgateConfig {
  return {
    ...config,
    daemon: {
      ...config.daemon,
      ...(opts.interface?.length ? { interfaces: opts.interface } : {}),
      ...(opts.logFormat ? { logFormat: opts.logFormat } : {}),
      ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
      ...(opts.controlSocket ? { controlSocket: opts.controlSocket } : {}),
    },
  };
}

/** A revoke request's source and door; `src` is required, so a revoke never flushes by mistake. */
function controlMatch(request: Record<string, unknown>): { src: string; door?: string } {
  if (typeof request.src !== 'string' || request.src === '') throw new Error('revoke needs a "src" string');
  return { src: request.src, ...(typeof request.door === 'string' && { door: request.door }) };
}

/** A refusals request's `limit`: a whole number from 1 to MAX_REFUSALS, all of them when absent. */
function refusalLimit(request: Record<string, unknown>): number {
  if (request.limit === undefined) return MAX_REFUSALS;
  const limit = Number(request.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_REFUSALS) throw new Error(`"limit" must be a whole number from 1 to ${MAX_REFUSALS}`);
  return limit;
}
