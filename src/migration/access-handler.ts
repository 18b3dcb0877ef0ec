/**
 * The daemon side of migrate-hints' hot/cold: a control-socket handler that
 * returns the latest cycle's access counts the daemon holds for a pid (the
 * scan observer records them), so `virt-tier migrate-hints` can mark pages
 * hot or cold without scanning (a scan would clear the access bits the
 * tiering engine relies on). The lead registers it in src/daemon/wiring.ts:
 *
 *   Object.assign(handlers, migrationHandlers(scans));
 */
import type { ScanObserver } from '../feed/scan-observer.js';
import { invalidField } from '../errors.js';

export const MIGRATION_ACCESS_COMMAND = 'migration-access';

export function migrationHandlers(scans: ScanObserver): Record<string, (args: Record<string, unknown>) => unknown> {
  return {
    [MIGRATION_ACCESS_COMMAND]: (args) => {
      const pid = args.pid;
      if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 1) throw invalidField('pid', String(pid), 'a process id >= 1');
      return scans.accessForPid(pid) ?? null;
    },
  };
}
