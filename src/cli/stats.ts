/**
 * `virt-tier stats DOMAIN [--connect URI] [--json] [-s SOCKET]`: one
 * domain's QEMU process, its RAMBlocks (id, size, backing VMA, page size,
 * guest node, present bytes per host node) and guest RAM per host node
 * (hot/cold from virt-tierd when it tiers the domain).
 */
import { JSON_OPTION, SOCKET_OPTION, socketName, usageError } from './options.js';
import { printJson } from './daemon-call.js';
import { defineVerb } from './verb.js';
import { table } from './format.js';
import { CONNECT_OPTION, DEFAULT_LIBVIRT_URI } from './policy.js';
import { formatNodes, mib } from './list.js';
import { readHostFacts } from '../model/host-facts.js';
import { VirtTierError } from '../errors.js';
import { daemonDomainUsage, numaUsageOfBlocks } from '../virt/domain-stats.js';
import { policyFromDomainXml, type DomainPolicy } from '../virt/policy.js';

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
    const uri = typeof opts.values.connect === 'string' ? opts.values.connect : DEFAULT_LIBVIRT_URI;
    const { resolveDomain } = await import('../virt/discovery.js');
    const d = await resolveDomain(value, { uri });
    let policy: DomainPolicy | undefined;
    let policyError: string | undefined;
    try {
      policy = policyFromDomainXml(d.xml, await readHostFacts(), d.name);
    } catch (err) {
      policyError = err instanceof VirtTierError ? err.message : String(err);
    }
    const numa = await numaUsageOfBlocks(d.pid, d.ramBlocks);
    const fromDaemon = policy?.enabled ? await daemonDomainUsage(socketName(opts), d.uuid, policy.engine) : undefined;
    const result = {
      name: d.name,
      uuid: d.uuid,
      id: d.id,
      state: d.state,
      pid: d.pid,
      memoryBytes: d.memoryBytes,
      tiering: policyError ? 'invalid' : policy?.enabled ? 'on' : 'off',
      engine: policy?.enabled ? policy.engine : null,
      policyError,
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
          b.vma ? `0x${b.vma.start.toString(16)}-0x${b.vma.end.toString(16)}${b.vma.hugetlb ? ' ht' : ''}` : 'not found',
          b.vma ? `${b.vma.kernelPageSizeBytes / 1024}K` : '-',
          formatNodes(Object.fromEntries(Object.entries(b.bytesByNode).map(([n, bytes]) => [n, { usedBytes: bytes }]))),
        ]),
      ),
    );
    if (policyError) io.err(`virt-tier: ${policyError}\n`);
    return 0;
  },
});
