/**
 * The plugin host: the entry of the worker thread that runs one thirdparty
 * engine's plugin (src/runner/thirdparty.ts starts it). It loads the bytes
 * the daemon read and checked (src/runner/plugin-file.ts) from a data: URL,
 * so the plugin's path is never resolved again, and answers the daemon's
 * calls over the worker's message port. Whatever the plugin hands back is
 * made plain data here (src/runner/safe-value.ts), in the plugin's thread,
 * so a cycle, a BigInt or a throwing getter costs the plugin, not the
 * daemon. A stray asynchronous throw is reported and the host goes on, as a
 * plugin in the daemon's own thread would have been logged and kept.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { toSafeValue } from './safe-value.js';
import type { FromHost, HostInit, ToHost } from './plugin-protocol.js';

const port = parentPort!;
const init = workerData as HostInit;
const post = (msg: FromHost): void => port.postMessage(msg);

function messageOf(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'an error that cannot be shown';
  }
}

process.on('uncaughtException', (err) => post({ t: 'log', level: 'error', msg: `uncaught exception in the plugin: ${messageOf(err)}` }));
process.on('unhandledRejection', (err) => post({ t: 'log', level: 'error', msg: `unhandled rejection in the plugin: ${messageOf(err)}` }));

type Ops = Record<string, ((...args: unknown[]) => unknown) | undefined>;
let ops: Ops | undefined;
const controllers = new Map<string, AbortController>();
const pidRequests = new Map<number, { resolve(p: number[]): void; reject(e: Error): void }>();
let nextPidRequest = 1;

function taskLogger(task: string | undefined): Record<'debug' | 'info' | 'warn' | 'error', (msg: string, meta?: Record<string, unknown>) => void> {
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, meta?: Record<string, unknown>): void => {
    let safeMeta: Record<string, unknown> | undefined;
    try {
      safeMeta = meta === undefined ? undefined : (toSafeValue(meta, 64 * 1024) as Record<string, unknown>);
    } catch {
      safeMeta = undefined;
    }
    post({ t: 'log', level, msg: String(msg), meta: safeMeta, task });
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function engineTask(config: Record<string, unknown>, project: Record<string, unknown>): unknown {
  const name = String(config.name);
  const controller = new AbortController();
  controllers.set(name, controller);
  return {
    config,
    project,
    signal: controller.signal,
    log: taskLogger(name),
    resolvePids: () => new Promise<number[]>((resolve, reject) => {
      const req = nextPidRequest++;
      pidRequests.set(req, { resolve, reject });
      post({ t: 'resolvePids', req, task: name });
    }),
    reportStats: (stats: unknown) => {
      try {
        post({ t: 'stats', task: name, stats: toSafeValue(stats) as Record<string, unknown> });
      } catch (err) {
        post({ t: 'log', level: 'error', task: name, msg: `reportStats: stats cannot be sent: ${messageOf(err)}` });
      }
    },
    reportEnded: (reason: unknown) => post({ t: 'ended', task: name, reason: String(reason) }),
  };
}

async function call(method: string, args: unknown[]): Promise<unknown> {
  if (!ops) throw new Error('plugin not loaded');
  if (method === 'startTask') {
    const [config, project] = args as [Record<string, unknown>, Record<string, unknown>];
    if (typeof ops.startTask !== 'function') throw new Error('the engine has no startTask');
    const name = String(config.name);
    // A throw here answers the call: the start failed (etmem's start_task returning an error).
    let result: unknown;
    try {
      result = ops.startTask.call(ops, engineTask(config, project));
    } catch (err) {
      controllers.delete(name);
      throw err;
    }
    // A promise may stand for the task's whole run, so it is awaited for errors only (docs/plugins.md). One
    // that has already rejected by the next turn of this thread's event loop (an async startTask that throws
    // before it waits on anything) is a failed start; a later rejection ends the running task.
    if (result instanceof Promise) {
      let started = false;
      let early: { err: unknown } | undefined;
      result.catch((err: unknown) => {
        if (started) post({ t: 'startFailed', task: name, message: messageOf(err) });
        else early = { err };
      });
      await new Promise((resolve) => setImmediate(resolve));
      started = true;
      if (early) {
        controllers.delete(name);
        throw early.err;
      }
    }
    return undefined;
  }
  if (method === 'init') {
    const [params, project] = args as [Record<string, string>, Record<string, unknown>];
    return ops.init?.call(ops, params, { project, log: taskLogger(undefined) });
  }
  const fn = ops[method];
  if (typeof fn !== 'function') return undefined;
  const value = await fn.apply(ops, args);
  return method === 'command' ? toSafeValue(value) : undefined;
}

async function load(): Promise<void> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`data:text/javascript;base64,${Buffer.from(init.source).toString('base64')}`)) as Record<string, unknown>;
  } catch (err) {
    post({ t: 'loaded', error: `cannot load module: ${messageOf(err)}` });
    return;
  }
  const found = mod[init.opsName] ?? (mod.default as Record<string, unknown> | undefined)?.[init.opsName];
  // Every operation is optional, startTask too: etmem accepts an ops table without start_task at engine add
  // (its project start fails later), and so does virt-tier (tp.null.eng_add in etmem's llt).
  if (typeof found !== 'object' || found === null) {
    post({ t: 'loaded', error: `no export "${init.opsName}" that is an engine object`, noOps: true });
    return;
  }
  ops = found as Ops;
  const methods: string[] = [];
  for (const m of ['checkEngineParams', 'checkTaskParams', 'init', 'startTask', 'stopTask', 'command', 'close']) {
    if (typeof ops[m] === 'function') methods.push(m);
  }
  post({ t: 'loaded', methods });
}

port.on('message', (msg: ToHost) => {
  if (msg.t === 'call') {
    void (async () => {
      try {
        const value = await call(msg.method, msg.args);
        post({ t: 'result', id: msg.id, ok: true, value });
      } catch (err) {
        post({ t: 'result', id: msg.id, ok: false, message: messageOf(err) });
      }
    })();
  } else if (msg.t === 'abort') {
    controllers.get(msg.task)?.abort();
    controllers.delete(msg.task);
  } else if (msg.t === 'pids') {
    const req = pidRequests.get(msg.req);
    pidRequests.delete(msg.req);
    if (msg.error !== undefined) req?.reject(new Error(msg.error));
    else req?.resolve(msg.pids ?? []);
  }
});

void load();
