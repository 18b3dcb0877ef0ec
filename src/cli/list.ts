/**
 * `virt-tier list [--connect URI] [--json] [-s SOCKET]`: running domains
 * with their tiering state, virsh-list style: policy on/off (or invalid,
 * with the reason), engine, QEMU PID, and guest RAM per NUMA node: hot/cold
 * when virt-tierd tiers the domain, else present bytes from numa_maps.
 */
import { CONNECT_OPTION, JSON_OPTION, libvirtUri, SOCKET_OPTION, socketName } from './options.js';
import { defineVerb } from './verb.js';
import { formatNodes, mib, printJson, table } from './format.js';
import { daemonDomainUsage, domainTiering } from './domain-tiering.js';
import { readHostFacts } from '../model/host-facts.js';
import { numaUsageOfBlocks, type NodeUsage } from '../virt/domain-stats.js';
import { findQemuProcess, readGuestRam } from '../virt/qemu-process.js';

const USAGE = `Usage: virt-tier list [--connect URI] [--json] [-s SOCKET]
  Running domains with their tiering state and guest RAM per NUMA node
  (hot/cold from virt-tierd when it tiers the domain, else present pages from numa_maps).`;

export interface DomainRow {
  id: number | null;
  name: string;
  uuid: string;
  state: string;
  pid: number | null;
  memoryBytes: number;
  tiering: 'on' | 'off' | 'invalid';
  engine: string | null;
  policyError?: string;
  usageSource: string;
  nodes: Record<number, NodeUsage>;
}

export const command = defineVerb({
  name: 'list',
  summary: 'list running libvirt domains with their tiering state and RAM per NUMA node',
  usage: USAGE,
  options: [CONNECT_OPTION, JSON_OPTION, SOCKET_OPTION],
  async run(_action, opts, io) {
    const uri = libvirtUri(opts);
    const host = await readHostFacts();
    const socket = socketName(opts);
    const rows: DomainRow[] = [];
    const { listRunningDomains } = await import('../virt/discovery.js');
    for (const d of await listRunningDomains({ uri })) {
      const t = domainTiering(d.xml, host, d.name);
      const row: DomainRow = {
        id: d.id,
        name: d.name,
        uuid: d.uuid,
        state: d.state,
        pid: d.pid,
        memoryBytes: d.memoryBytes,
        tiering: t.tiering,
        engine: t.engine,
        usageSource: 'none',
        nodes: {},
      };
      if (t.policyError) row.policyError = t.policyError;
      const fromDaemon = await daemonDomainUsage(socket, d.uuid, t);
      if (fromDaemon) {
        row.usageSource = 'daemon';
        row.nodes = fromDaemon;
      } else if (d.pid !== null) {
        const proc = await findQemuProcess(d.name);
        if (proc) {
          const usage = await numaUsageOfBlocks(proc.pid, await readGuestRam(proc));
          row.usageSource = usage.source;
          row.nodes = usage.nodes;
        }
      }
      rows.push(row);
    }
    if (opts.values.json) {
      printJson(io, rows);
      return 0;
    }
    io.out(
      table(
        ['Id', 'Name', 'State', 'PID', 'Memory', 'Tiering', 'Engine', 'RAM per node'],
        rows.map((r) => [r.id === null ? '-' : String(r.id), r.name, r.state, r.pid === null ? '-' : String(r.pid), mib(r.memoryBytes), r.tiering, r.engine ?? '-', formatNodes(r.nodes)]),
      ),
    );
    for (const r of rows) if (r.policyError) io.err(`virt-tier: ${r.name}: ${r.policyError}\n`);
    return 0;
  },
});
