/**
 * The daemon side of migrate-hints' hot/cold: a control-socket handler that
 * returns the latest cycle's access counts the daemon holds for a pid (the
 * scan observer records them), so `virt-tier migrate-hints` can mark pages
 * hot or cold without scanning (a scan would clear the access bits the
 * tiering engine relies on). The lead registers it in src/daemon/wiring.ts:
 *
 *   Object.assign(handlers, migrationHandlers(scans));
 */
import { invalidField } from '../errors.js';

export const MIGRATION_ACCESS_COMMAND = 'migration-access';

/** Where the daemon keeps the last cycle's access counts per pid (the feed's ScanObserver). */
export interface AccessCountsSource {
  accessForPid(pid: number): unknown;
}

export function migrationHandlers(scans: AccessCountsSource): Record<string, (args: Record<string, unknown>) => unknown> {
  return {
    [MIGRATION_ACCESS_COMMAND]: (args) => {
      const pid = args.pid;
      if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 1) throw invalidField('pid', String(pid), 'a process id >= 1');
      return scans.accessForPid(pid) ?? null;
    },
  };
}
