/**
 * virt-tierd: wiring only. Parses etmemd's flags, builds the registry, the
 * engines, the control socket and the optional components, and stops
 * everything cleanly on SIGTERM/SIGINT.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import inspector from 'node:inspector';
import { fileURLToPath } from 'node:url';
import { createHandlers } from '../api/handlers.js';
import { ControlServer } from '../api/server.js';
import { VirtTierError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { readHostFacts } from '../model/host-facts.js';
import { Registry } from '../model/registry.js';
import { EngineFactories } from '../runner/registry.js';
import { DAEMON_USAGE, parseDaemonArgs, type DaemonArgs } from './args.js';
import { checkPidFileDir, removePidFile, writePidFile } from './pidfile.js';
import { startConfigReloads } from './reload.js';
import { createTargets, wireComponents } from './wiring.js';

/** Set in the child of `-m`: tells it to report readiness over IPC. */
const READY_ENV = 'VIRT_TIERD_NOTIFY_PARENT';
/** How long SIGTERM waits for a clean stop before the daemon exits anyway (a wedged plugin must not keep it alive). */
const STOP_DEADLINE_MS = 10_000;

const INSPECT_FLAG = /(^|\s)--(inspect(-brk|-wait|-port|-publish-uid)?|debug-port)(=|\s|$)/;

/**
 * Why the daemon must not run, when Node's inspector is (or could be)
 * enabled: through the inspector anyone who reaches its port evaluates code
 * as root. Checks the flags (execArgv, NODE_OPTIONS) and whether an
 * inspector is already open. Undefined when all is well.
 */
export function refuseInspector(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string | undefined {
  const flags = [...execArgv, env.NODE_OPTIONS ?? ''].join(' ');
  if (INSPECT_FLAG.test(flags) || inspector.url() !== undefined) {
    inspector.close();
    return 'OPT_PERM: refusing to run with the Node inspector enabled (--inspect* in the node flags or NODE_OPTIONS): it would let any local user run code as root';
  }
  return undefined;
}

/** The entry that installs the SIGUSR1 guard before anything loads: bin/virt-tierd.js, next to dist/. */
function daemonEntry(): string {
  const bin = fileURLToPath(new URL('../../../bin/virt-tierd.js', import.meta.url));
  return existsSync(bin) ? bin : fileURLToPath(import.meta.url);
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The feed token: the file's first line; kept out of argv so `ps` never shows it. */
function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VirtTierError('OPT_INVAL', `--http-token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`, { field: '--http-token-file', value: file });
  }
  return text.split('\n')[0]!.trim();
}

/**
 * The config parsers, loaded with the first file read (obj add, --load, the
 * config file): config/text.js imports the YAML parser whatever the file's
 * format, and a daemon with no config file at start reads none.
 */
const configParser = (): Promise<typeof import('../config/parse.js')> => import('../config/parse.js');

function defaultPidFile(args: DaemonArgs): string {
  return args.pidFile ?? `/run/virt-tierd.${args.socketName.replace(/[^A-Za-z0-9._-]/g, '_')}.pid`;
}

/**
 * Node flags of the daemon that -m forks, as bin/virt-tierd.js's first line
 * gives the one started directly: a 4 MiB young generation semi-space
 * (V8: 16) and one V8 worker thread (Node: 4) hold RSS down at about the
 * same CPU (the reasons and the figures are in bin/virt-tierd.js).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--v8-pool-size=1'];

/** -m: start a detached child, wait until it listens, write its pidfile, exit. */
async function forkAndWait(argv: string[], args: DaemonArgs): Promise<number> {
  const pidFile = defaultPidFile(args);
  try {
    // Before forking: a pidfile the daemon may not write is an error now, not after the child runs.
    checkPidFileDir(pidFile);
  } catch (err) {
    process.stderr.write(`virt-tierd: ${(err as VirtTierError).code}: ${(err as Error).message}\n`);
    return 1;
  }
  const childArgv = argv.filter((a) => a !== '-m' && a !== '--mode-systemctl');
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, daemonEntry(), ...childArgv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, [READY_ENV]: '1' },
  });
  const outcome = await new Promise<'ready' | number>((resolve) => {
    child.once('message', (m) => resolve(m === 'ready' ? 'ready' : 1));
    child.once('exit', (code) => resolve(code ?? 1));
  });
  if (outcome !== 'ready') {
    process.stderr.write(`virt-tierd: daemon failed to start (exit ${outcome})\n`);
    return typeof outcome === 'number' && outcome !== 0 ? outcome : 1;
  }
  try {
    writePidFile(pidFile, child.pid!);
  } catch (err) {
    process.stderr.write(`virt-tierd: ${(err as VirtTierError).code}: ${(err as Error).message}\n`);
    child.kill('SIGTERM');
    return 1;
  }
  child.disconnect();
  child.unref();
  return 0;
}

async function runDaemon(args: DaemonArgs): Promise<void> {
  const log: Logger = createLogger(args.logLevel);
  const startedAtMs = Date.now();
  const libvirt = { enabled: args.connectUri !== null, uri: args.connectUri ?? '', autoDomains: args.autoDomains, syncIntervalMs: args.syncIntervalS * 1000 };
  const { targets, connection } = await createTargets(libvirt);
  // One set of engine factories per daemon, filled by the wiring: nothing process-wide.
  const engines = new EngineFactories();
  const registry = new Registry(log, { engines, targets });
  const components = await wireComponents({
    log,
    registry,
    engines,
    socketName: args.socketName,
    tracker: args.tracker,
    libvirt,
    connection,
    feed: args.http ? { ...args.http, token: args.httpTokenFile ? readTokenFile(args.httpTokenFile) : undefined, allowHosts: args.httpAllowHosts } : undefined,
  });
  const handlers = createHandlers({
    registry,
    loadConfigFile: async (file, host, reader) => (await configParser()).loadConfigFile(file, host, { reader }),
    loadObjectRefs: async (file, reader) => (await configParser()).loadObjectRefs(file, reader),
    hostFacts: () => readHostFacts(),
    startedAtMs,
    version: packageVersion(),
    extra: components.handlers,
  });
  const server = new ControlServer({ socketName: args.socketName, handlers, log, allowedGid: args.allowedGid });

  for (const file of args.loadFiles) {
    await registry.add(await (await configParser()).loadConfigFile(file, await readHostFacts()));
    log.info('loaded config', { file });
  }
  await startConfigReloads(args, registry, log); // --config: loaded now, reloaded on SIGHUP (src/daemon/reload.ts)
  try {
    await server.listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `socket name "${args.socketName}" is in use: is another virt-tierd running?` : (err as Error).message;
    throw new VirtTierError('OPT_INTER_ERR', `cannot listen: ${why}`, { field: '-s', value: args.socketName });
  }
  log.info('virt-tierd listening', { socket: args.socketName, pid: process.pid });
  if (process.env[READY_ENV] && process.send) {
    process.send('ready');
    process.disconnect?.();
  }

  // SIGPIPE must never kill the daemon (Node ignores it already; keep it explicit).
  process.on('SIGPIPE', () => undefined);
  // Thirdparty engines run in-process: a plugin's stray asynchronous throw
  // (a timer callback, an unawaited promise) lands here. It is logged and
  // the daemon keeps serving; every call into a plugin is also wrapped
  // (src/runner/thirdparty.ts), so this is the last line, not the first.
  process.on('uncaughtException', (err) => log.error('uncaught exception (plugin or bug); continuing', { error: err.stack ?? String(err) }));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection (plugin or bug); continuing', { error: err instanceof Error ? err.stack : String(err) }));
  // SIGUSR1 would open Node's inspector (bin/virt-tierd.js installs the first guard): logged and ignored.
  // SIGHUP reloads the config file (startConfigReloads above); it never kills the daemon.
  process.on('SIGUSR1', () => log.warn('SIGUSR1 ignored: the Node inspector is disabled in virt-tierd'));
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    const deadline = setTimeout(() => {
      log.error('stop did not finish in time; exiting anyway', { deadlineMs: STOP_DEADLINE_MS });
      process.exit(1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    void (async () => {
      // registry.shutdown() first aborts an add in progress, so nothing is committed once SIGTERM arrived.
      const registryDown = registry.shutdown();
      await server.close();
      await components.close();
      await registryDown;
      if (args.pidFile || process.env[READY_ENV]) removePidFile(defaultPidFile(args), process.pid);
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export async function main(argv: string[]): Promise<number> {
  let args: DaemonArgs;
  try {
    args = parseDaemonArgs(argv);
  } catch (err) {
    process.stderr.write(`virt-tierd: ${(err as Error).message}\n${DAEMON_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(DAEMON_USAGE + '\n');
    return 0;
  }
  if (args.systemctlMode) return forkAndWait(argv, args);
  try {
    await runDaemon(args);
    return -1; // keeps running
  } catch (err) {
    const e = err as VirtTierError;
    process.stderr.write(`virt-tierd: ${e.code ? e.code + ': ' : ''}${e.message}\n`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // Run directly rather than through bin/virt-tierd.js: the same guards, as early as an ES module allows.
  process.on('SIGUSR1', () => undefined);
  const refusal = refuseInspector();
  if (refusal !== undefined) {
    process.stderr.write(`virt-tierd: ${refusal}\n`);
    process.exit(2);
  }
  void main(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exit(code);
  });
}
