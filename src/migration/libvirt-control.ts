/**
 * The few libvirt calls migrate-plan needs, through virsh (the Node binding
 * has no monitor or migration-parameter calls): QEMU's migration state and
 * parameters by the monitor passthrough (read-only queries), and the two
 * parameters `--apply` sets with libvirt's own verbs, `migrate-setmaxdowntime`
 * and `migrate-setspeed`, read back with their getters. Never starts,
 * cancels or changes a migration otherwise. Injected, so the verb is tested
 * against a recording fake as well as a real libvirtd.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { VirtTierError } from '../errors.js';

const execFileAsync = promisify(execFile);

export interface MigrationState {
  /** query-migrate status: 'none' when no migration ran, 'active', 'completed', ... */
  status: string;
}

export interface QemuMigrationParameters {
  maxBandwidthBytesPerSec: number;
  downtimeLimitMs: number;
}

export interface MigrationControl {
  queryMigrate(domain: string): Promise<MigrationState>;
  queryParameters(domain: string): Promise<QemuMigrationParameters>;
  /** virsh migrate-setmaxdowntime */
  setMaxDowntime(domain: string, ms: number): Promise<void>;
  /** virsh migrate-setspeed, MiB/s */
  setSpeed(domain: string, mibPerSec: number): Promise<void>;
  getMaxDowntime(domain: string): Promise<number>;
  getSpeed(domain: string): Promise<number>;
}

/** Migration states in which another migration (or a parameter change for this one) is refused. */
export const ACTIVE_MIGRATION_STATES = new Set(['setup', 'active', 'pre-switchover', 'device', 'postcopy-active', 'postcopy-paused', 'postcopy-recover', 'cancelling', 'wait-unplug']);

export function virshMigrationControl(uri: string): MigrationControl {
  const virsh = async (args: string[]): Promise<string> => {
    try {
      const { stdout } = await execFileAsync('virsh', ['-q', '-c', uri, ...args], { timeout: 60_000, encoding: 'utf8' });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new VirtTierError('OPT_UNAVAILABLE', `virsh ${args[0]}: ${(e.stderr ?? e.message).trim()}`, { field: 'DOMAIN', value: args[1] ?? '' });
    }
  };
  const qmp = async (domain: string, execute: string): Promise<any> => {
    const reply = JSON.parse(await virsh(['qemu-monitor-command', domain, JSON.stringify({ execute })])) as { return?: unknown; error?: { desc: string } };
    if (reply.error) throw new VirtTierError('OPT_UNAVAILABLE', `QMP ${execute}: ${reply.error.desc}`, { field: 'DOMAIN', value: domain });
    return reply.return;
  };
  return {
    async queryMigrate(domain) {
      const r = await qmp(domain, 'query-migrate');
      return { status: typeof r?.status === 'string' ? r.status : 'none' };
    },
    async queryParameters(domain) {
      const r = await qmp(domain, 'query-migrate-parameters');
      return { maxBandwidthBytesPerSec: Number(r['max-bandwidth']), downtimeLimitMs: Number(r['downtime-limit']) };
    },
    async setMaxDowntime(domain, ms) {
      await virsh(['migrate-setmaxdowntime', domain, String(Math.round(ms))]);
    },
    async setSpeed(domain, mibPerSec) {
      await virsh(['migrate-setspeed', domain, String(Math.ceil(mibPerSec))]);
    },
    async getMaxDowntime(domain) {
      return Number((await virsh(['migrate-getmaxdowntime', domain])).trim());
    },
    async getSpeed(domain) {
      return Number((await virsh(['migrate-getspeed', domain])).trim());
    },
  };
}
