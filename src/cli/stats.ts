/**
 * `virt-tier stats DOMAIN [--connect URI] [--json] [-s SOCKET]`: one
 * domain's QEMU process, its RAMBlocks (id, size, backing VMA, page size,
 * guest node, present bytes per host node) and guest RAM per host node
 * (hot/cold from virt-tierd when it tiers the domain).
 */
import { CONNECT_OPTION, JSON_OPTION, libvirtUri, SOCKET_OPTION, socketName, usageError } from './options.js';
import { defineVerb } from './verb.js';
import { formatNodes, hex, kib, mib, printJson, table } from './format.js';
import { daemonDomainUsage, domainTiering } from './domain-tiering.js';
import { readHostFacts } from '../model/host-facts.js';
import { numaUsageOfBlocks } from '../virt/domain-stats.js';

const USAGE = `Usage: virt-tier stats DOMAIN [--connect URI] [--json] [-s SOCKET]
  A running domain's QEMU PID, RAMBlocks with their VMAs and NUMA placement,
  and hot/cold RAM per node when virt-tierd tiers it.`;

export const command = defineVerb({
  name: 'stats',
  summary: "a domain's QEMU process, RAMBlocks and RAM per NUMA node",
  usage: USAGE,
  options: [CONNECT_OPTION, JSON_OPTION, SOCKET_OPTION],
  positionals: 1,
  async run(_action, opts, io) {
    const value = opts.positionals[0];
    if (value === undefined) throw usageError('a DOMAIN (name or UUID) is required', 'DOMAIN', '(missing)', 'a domain name or UUID');
    const { resolveDomain } = await import('../virt/discovery.js');
    const d = await resolveDomain(value, { uri: libvirtUri(opts) });
    const t = domainTiering(d.xml, await readHostFacts(), d.name);
    const numa = await numaUsageOfBlocks(d.pid, d.ramBlocks);
    const fromDaemon = await daemonDomainUsage(socketName(opts), d.uuid, t);
    const result = {
      name: d.name,
      uuid: d.uuid,
      id: d.id,
      state: d.state,
      pid: d.pid,
      memoryBytes: d.memoryBytes,
      tiering: t.tiering,
      engine: t.engine,
      policyError: t.policyError,
      ramBlocks: d.ramBlocks.map((b) => ({ ...b, bytesByNode: numa.blocks[b.id] ?? {} })),
      nodes: fromDaemon ?? numa.nodes,
      nodesSource: fromDaemon ? 'daemon' : numa.source,
    };
    if (opts.values.json) {
      printJson(io, result);
      return 0;
    }
    io.out(`Name:       ${d.name}\nUUID:       ${d.uuid}\nId:         ${d.id ?? '-'}\nState:      ${d.state}\nQEMU PID:   ${d.pid}\nMemory:     ${mib(d.memoryBytes)}\n`);
    io.out(`Tiering:    ${result.tiering}${result.engine ? ` (${result.engine})` : ''}\nRAM/node:   ${formatNodes(result.nodes)}  [${result.nodesSource}]\n\n`);
    io.out(
      table(
        ['RAMBlock', 'Size', 'Guest node', 'Backend', 'VMA', 'Page size', 'Present per host node'],
        result.ramBlocks.map((b) => [
          b.id,
          mib(b.sizeBytes),
          b.guestNode === undefined ? '-' : String(b.guestNode),
          b.qomType.replace('memory-backend-', ''),
          b.vma ? `${hex(b.vma.start)}-${hex(b.vma.end)}${b.vma.hugetlb ? ' ht' : ''}` : 'not found',
          b.vma ? kib(b.vma.kernelPageSizeBytes) : '-',
          formatNodes(Object.fromEntries(Object.entries(b.bytesByNode).map(([n, bytes]) => [n, { usedBytes: bytes }]))),
        ]),
      ),
    );
    if (t.policyError) io.err(`virt-tier: ${t.policyError}\n`);
    return 0;
  },
});
