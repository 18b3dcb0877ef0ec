/**
 * The daemon's request handlers: decode and check arguments, call the
 * registry, return plain data. Every argument error names the field and
 * the allowed form.
 */
import path from 'node:path';
import type { ConfigDocument, HostFacts, ObjectRefs } from '../config/types.js';
import { invalidField } from '../errors.js';
import type { Registry } from '../model/registry.js';
import type { Handler } from './server.js';

export interface HandlerDeps {
  registry: Registry;
  /**
   * reads and validates a config file (daemon-side: the file checks must hold for the daemon), with the
   * rights of `reader`, the peer that asked (config/file.ts: a peer other than root never reads with root's)
   */
  loadConfigFile(file: string, host: HostFacts, reader: { uid: number; gid: number }): Promise<ConfigDocument> | ConfigDocument;
  /** reads a config file for `obj del`: the identity keys only, as etmem; without it, loadConfigFile */
  loadObjectRefs?(file: string, reader: { uid: number; gid: number }): Promise<ObjectRefs> | ObjectRefs;
  hostFacts(): HostFacts | Promise<HostFacts>;
  startedAtMs: number;
  version: string;
  /** extra handlers contributed by other components (hook events, stats, ...) */
  extra?: Record<string, Handler>;
}

const NAME_MAX = 64;

export function stringArg(args: Record<string, unknown>, key: string, field: string, opts: { optional?: boolean; max?: number } = {}): string | undefined {
  const v = args[key];
  if (v === undefined && opts.optional) return undefined;
  const max = opts.max ?? NAME_MAX;
  if (typeof v !== 'string' || v.length < 1 || v.length > max) {
    throw invalidField(field, v === undefined ? '(missing)' : v, `a string of 1..${max} characters`);
  }
  return v;
}

function fileArg(args: Record<string, unknown>): string {
  const file = stringArg(args, 'file', '-f', { max: 4096 })!;
  if (!path.isAbsolute(file)) throw invalidField('-f', file, 'an absolute path (the CLI resolves relative paths)');
  return file;
}

export function createHandlers(deps: HandlerDeps): Record<string, Handler> {
  const { registry } = deps;
  return {
    'obj.add': async (args, peer) => registry.add(await deps.loadConfigFile(fileArg(args), await deps.hostFacts(), peer)),
    'obj.del': async (args, peer) => {
      const file = fileArg(args);
      return registry.del(deps.loadObjectRefs ? await deps.loadObjectRefs(file, peer) : await deps.loadConfigFile(file, await deps.hostFacts(), peer));
    },
    // An empty name is looked up and not found (OPT_PRO_NOEXIST), as etmemd answers it; etmem's llt pin that.
    'project.start': async (args) => {
      await registry.start(args.name === '' ? '' : stringArg(args, 'name', '-n')!);
      return null;
    },
    'project.stop': async (args) => {
      await registry.stop(args.name === '' ? '' : stringArg(args, 'name', '-n')!);
      return null;
    },
    'project.show': (args) => registry.show(stringArg(args, 'name', '-n', { optional: true })),
    'engine.cmd': async (args) => {
      const project = stringArg(args, 'project', '-n')!;
      const engine = stringArg(args, 'engine', '-e')!;
      const cmd = stringArg(args, 'cmd', 'engine command')!;
      const task = stringArg(args, 'task', '-t', { optional: true });
      const json = args.json === true;
      return registry.engineCommand(project, engine, cmd, { task, json });
    },
    'daemon.status': () => ({
      pid: process.pid,
      version: deps.version,
      uptimeMs: Date.now() - deps.startedAtMs,
      projects: registry.show().length,
    }),
    ...(deps.extra ?? {}),
  };
}
