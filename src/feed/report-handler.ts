/**
 * The daemon side of `virt-tier report`: a control-socket handler that
 * returns a task's bounded heat history (the scan observer keeps the heat
 * strips of its last cycles), so the CLI can draw access heat over address
 * and time without scanning (a scan would clear the access bits the
 * engines rely on).
 */
import { invalidField } from '../errors.js';
import type { HeatStrip } from './heat.js';
import { taskKey, type ScanObserver } from './scan-observer.js';

export const HEAT_REPORT_COMMAND = 'report.heat';

export interface HeatReport {
  task: string;
  tracker: string;
  /** oldest first */
  strips: HeatStrip[];
}

export function heatReportHandlers(scans: Pick<ScanObserver, 'get'>): Record<string, (args: Record<string, unknown>) => unknown> {
  return {
    [HEAT_REPORT_COMMAND]: (args) => {
      const name = (k: string): string => {
        const v = args[k];
        if (typeof v !== 'string' || v === '' || v.length > 255) throw invalidField(k, String(v), 'a name of 1..255 characters');
        return v;
      };
      const t = { project: name('project'), engine: name('engine'), name: name('task') };
      const r = scans.get(taskKey(t));
      const report: HeatReport = { task: `${t.project}/${t.engine}/${t.name}`, tracker: r?.tracker ?? '', strips: r?.heatHistory.strips() ?? [] };
      return report;
    },
  };
}
