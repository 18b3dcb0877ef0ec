/**
 * The messages between the daemon (src/runner/thirdparty.ts) and a plugin
 * host thread (src/runner/plugin-host.ts). Every value in them is plain
 * data: the host makes the plugin's values safe before sending.
 */

/** The worker's workerData. */
export interface HostInit {
  /** the plugin's bytes, read once through a checked descriptor */
  source: Uint8Array;
  opsName: string;
}

export type PluginMethod = 'checkEngineParams' | 'checkTaskParams' | 'init' | 'startTask' | 'stopTask' | 'command' | 'close';

export type ToHost =
  | { t: 'call'; id: number; method: PluginMethod; args: unknown[] }
  | { t: 'abort'; task: string }
  | { t: 'pids'; req: number; pids?: number[]; error?: string };

export type FromHost =
  | { t: 'loaded'; error?: string; noOps?: boolean; methods?: string[] }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; message: string }
  | { t: 'stats'; task: string; stats: Record<string, unknown> }
  | { t: 'ended'; task: string; reason: string }
  | { t: 'startFailed'; task: string; message: string }
  | { t: 'resolvePids'; req: number; task: string }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; meta?: Record<string, unknown>; task?: string };
