/**
 * virt-tierd's command line: etmemd's flags, parsed strictly (etmemd's
 * getopt_long semantics, but every mistake is an error naming the flag),
 * plus a few long-only virt-tier options.
 */
import { invalidField } from '../errors.js';
import { checkSocketName, defaultSocketName, DEFAULT_SOCKET_NAME } from '../api/protocol.js';
import { splitInlineValue, usageError } from '../argv.js';
import { TRACKER_NAMES, type TrackerChoice } from '../scan/choose-tracker.js';

export interface DaemonArgs {
  help: boolean;
  socketName: string;
  /** etmemd's -l: 0 debug, 1 info, 2 warning, 3 error */
  logLevel: number;
  /** -m: fork, return once the child listens, write a pidfile */
  systemctlMode: boolean;
  pidFile?: string;
  /** config files to add at start (virt-tier addition); never reloaded */
  loadFiles: string[];
  /** the daemon's config file, loaded at start and on SIGHUP (src/daemon/reload.ts); undefined with --no-config */
  configFile: string | undefined;
  /** --config was given: then a missing file is an error, not "no objects" */
  configExplicit: boolean;
  /** a group whose members may use the socket besides root */
  allowedGid?: number;
  /** access tracker backend: auto (probe) or a name */
  tracker: TrackerChoice;
  /** libvirt URI; null with --no-libvirt */
  connectUri: string | null;
  /** turn every running domain with an enabled <metadata> policy into a project */
  autoDomains: boolean;
  /** how often --auto-domains reconciles with libvirt, seconds */
  syncIntervalS: number;
  /** the stats feed, /metrics and the live view; undefined = off */
  http?: { host: string; port: number };
  /** file holding the feed's token (required for a non-loopback --http) */
  httpTokenFile?: string;
}

/** Where a packaged daemon finds its objects (etmem's rule: root-owned, 0600 or 0400). */
export const DEFAULT_CONFIG_FILE = '/etc/virt-tier/virt-tier.conf';

/** libvirt's own default, as virsh: $LIBVIRT_DEFAULT_URI, else qemu:///system. */
export function defaultLibvirtUri(env: NodeJS.ProcessEnv = process.env): string {
  return env.LIBVIRT_DEFAULT_URI || 'qemu:///system';
}

export const DAEMON_USAGE = `Usage: virt-tierd [-s|--socket NAME] [-l|--log-level 0..3] [-m|--mode-systemctl] [options]
       virt-tierd -h|--help

etmemd-compatible flags:
  -s, --socket NAME        listen on the abstract unix socket NAME (1..106 characters; default $VIRT_TIER_SOCKET or ${DEFAULT_SOCKET_NAME})
  -l, --log-level LEVEL    0 debug, 1 info, 2 warning, 3 error (default 3)
  -m, --mode-systemctl     fork: return once the daemon listens, write a pidfile
  -h, --help               this help
virt-tier options:
  --pidfile FILE           pidfile for -m (default /run/virt-tierd.NAME.pid)
  --config FILE            the config file loaded at start and reloaded on SIGHUP (default ${DEFAULT_CONFIG_FILE}; a missing default file means no objects)
  --no-config              load no config file
  --load FILE              add the objects of a config file at start, never reloaded (repeatable)
  --allow-gid GID          also accept peers whose gid is GID (default: root only)
  -c, --connect URI        libvirt URI for type=domain tasks and --auto-domains (default $LIBVIRT_DEFAULT_URI or qemu:///system)
  --no-libvirt             do not use libvirt at all
  --auto-domains           tier every running guest whose domain XML carries an enabled virt-tier policy
  --sync-interval SECONDS  how often --auto-domains reconciles with libvirt, 1..3600 (default 5)
  --http [HOST:]PORT       serve the websocket stats feed (/feed), /metrics and the live view (/) (HOST default 127.0.0.1)
  --http-token-file FILE   token clients must present; required when HOST is not loopback
  --tracker NAME           access tracker: auto (probe the kernel; default), ${TRACKER_NAMES.join(', ')}`;

export function parseDaemonArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DaemonArgs {
  let help = false;
  let socketName: string | undefined;
  let logLevel: number | undefined;
  let systemctlMode = false;
  let pidFile: string | undefined;
  let allowedGid: number | undefined;
  let tracker: TrackerChoice | undefined;
  let connectUri: string | null | undefined;
  let autoDomains = false;
  let syncIntervalS = 5;
  let http: { host: string; port: number } | undefined;
  let httpTokenFile: string | undefined;
  const loadFiles: string[] = [];
  let configFile: string | null | undefined;

  for (let i = 0; i < argv.length; i++) {
    const { flag: arg, inline: inlineValue } = splitInlineValue(argv[i]);
    const value = (flag: string, allowed: string): string => {
      if (inlineValue !== undefined) return inlineValue;
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith('-') && v.length > 1 && !/^-\d+$/.test(v))) {
        throw usageError(`${flag} needs a value (${allowed})`, flag, '(missing)', allowed);
      }
      i++;
      return v;
    };
    switch (arg) {
      case '-h':
      case '--help':
        help = true;
        break;
      case '-s':
      case '--socket': {
        if (socketName !== undefined) throw usageError(`${arg} given twice`, '-s', argv[i + 1] ?? '', 'one socket name');
        socketName = checkSocketName(value('-s', '1..106 characters'), '-s');
        break;
      }
      case '-l':
      case '--log-level': {
        const v = value('-l', '0..3');
        if (!/^[0-3]$/.test(v)) throw invalidField('-l', v, '0..3 (0 debug, 1 info, 2 warning, 3 error)');
        logLevel = Number(v);
        break;
      }
      case '-m':
      case '--mode-systemctl':
        systemctlMode = true;
        break;
      case '--pidfile':
        pidFile = value('--pidfile', 'a file path');
        break;
      case '--load':
        loadFiles.push(value('--load', 'a config file path'));
        break;
      case '--config': {
        const v = value('--config', 'an absolute file path');
        if (configFile !== undefined) throw usageError(configFile === null ? '--config and --no-config exclude each other' : '--config given twice', '--config', v, 'one config file');
        // Absolute: the daemon reloads it later, and -m's child may not share the working directory's meaning.
        if (!v.startsWith('/')) throw invalidField('--config', v, 'an absolute file path');
        configFile = v;
        break;
      }
      case '--no-config':
        if (configFile !== undefined) throw usageError(configFile === null ? '--no-config given twice' : '--config and --no-config exclude each other', '--no-config', '', 'one of them');
        configFile = null;
        break;
      case '--allow-gid': {
        const v = value('--allow-gid', '0..4294967294');
        if (!/^\d+$/.test(v) || Number(v) > 4294967294) throw invalidField('--allow-gid', v, '0..4294967294');
        allowedGid = Number(v);
        break;
      }
      case '-c':
      case '--connect': {
        const v = value('--connect', 'a libvirt URI such as qemu:///system');
        if (!/^[a-z][a-z0-9+.-]*:\/\/[^\s]*$/i.test(v) || v.length > 1024) throw invalidField('--connect', v, 'a libvirt URI such as qemu:///system');
        if (connectUri === null) throw usageError('--connect and --no-libvirt exclude each other', '--connect', v, 'one of them');
        connectUri = v;
        break;
      }
      case '--no-libvirt':
        if (connectUri !== undefined && connectUri !== null) throw usageError('--connect and --no-libvirt exclude each other', '--no-libvirt', '', 'one of them');
        connectUri = null;
        break;
      case '--auto-domains':
        autoDomains = true;
        break;
      case '--sync-interval': {
        const v = value('--sync-interval', '1..3600');
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 3600) throw invalidField('--sync-interval', v, '1..3600 (seconds)');
        syncIntervalS = Number(v);
        break;
      }
      case '--http': {
        const v = value('--http', '[HOST:]PORT');
        const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(v);
        const port = m ? Number(m[2]) : NaN;
        if (!m || port < 1 || port > 65535) throw invalidField('--http', v, '[HOST:]PORT with PORT 1..65535');
        http = { host: m[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1', port };
        break;
      }
      case '--http-token-file':
        httpTokenFile = value('--http-token-file', 'a file path');
        break;
      case '--tracker': {
        const v = value('--tracker', ['auto', ...TRACKER_NAMES].join('|'));
        if (v !== 'auto' && !(TRACKER_NAMES as readonly string[]).includes(v)) throw invalidField('--tracker', v, ['auto', ...TRACKER_NAMES].join('|'));
        tracker = v as TrackerChoice;
        break;
      }
      default:
        if (arg.startsWith('-')) throw usageError(`unknown option ${arg}`, arg, arg, 'see virt-tierd --help');
        throw usageError(`unexpected argument ${JSON.stringify(arg)}`, 'argv', arg, 'options only; see virt-tierd --help');
    }
  }
  if (autoDomains && connectUri === null) throw usageError('--auto-domains needs libvirt: drop --no-libvirt', '--auto-domains', '', 'libvirt enabled');
  return {
    help,
    socketName: socketName ?? checkSocketName(defaultSocketName(env), 'VIRT_TIER_SOCKET'),
    logLevel: logLevel ?? 3,
    systemctlMode,
    pidFile,
    loadFiles,
    configFile: configFile === undefined ? DEFAULT_CONFIG_FILE : (configFile ?? undefined),
    configExplicit: typeof configFile === 'string',
    allowedGid,
    tracker: tracker ?? 'auto',
    connectUri: connectUri === undefined ? defaultLibvirtUri(env) : connectUri,
    autoDomains,
    syncIntervalS,
    http,
    httpTokenFile,
  };
}
