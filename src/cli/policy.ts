/**
 * `virt-tier policy DOMAIN [--connect URI] [--config] [--json]`: a domain's
 * tiering policy (from its <metadata>), every key with its effective
 * value and whether the domain sets it or the default applies.
 * `virt-tier policy DOMAIN --set KEY=VALUE... [--live] [--config]`:
 * validates and writes it (docs/libvirt.md).
 */
import { CONNECT_OPTION, DEFAULT_LIBVIRT_URI, HELP_OPTION, JSON_OPTION, libvirtUri, SOCKET_OPTION, socketName, usageError } from './options.js';
import { daemonCall } from './daemon-call.js';
import { defineVerb } from './verb.js';
import { printJson, table } from './format.js';
import { readHostFacts } from '../model/host-facts.js';
import { effectiveSettings, POLICY_NAMESPACE } from '../virt/policy.js';

const USAGE = `Usage: virt-tier policy DOMAIN [--connect URI] [--config] [--json]
       virt-tier policy DOMAIN --set KEY=VALUE... [--live] [--config] [--connect URI] [-s SOCKET]
  Shows or sets the per-VM tiering policy kept in the domain XML <metadata>
  (namespace ${POLICY_NAMESPACE}).
  --set     the remaining words are KEY=VALUE (an empty VALUE removes KEY); keys:
            enabled=yes|no, engine=slide|cslide, loop, interval, sleep, sysmem_threshold,
            cslide: node_pair, hot_threshold, node_mig_quota, node_hot_reserve, vm_flags, anon_only, ign_host
            slide: T, max_threads, swap_threshold, dram_percent, swap_flag
  --live    the running domain's definition;  --config  the persistent one
            (default: both for a running persistent domain, else the persistent one)
  --connect libvirt URI (default ${DEFAULT_LIBVIRT_URI})
  -s        virt-tierd's socket: after a live write it is asked to resync at once
            (without it, or when it is not running, its next poll picks the change up)`;

/** How long a live edit waits for virt-tierd's resync before leaving it to the next poll. */
const DAEMON_SYNC_TIMEOUT_MS = 10_000;

export const command = defineVerb({
  name: 'policy',
  summary: 'show or set a domain\'s tiering policy (domain XML metadata)',
  usage: USAGE,
  options: [
    CONNECT_OPTION,
    JSON_OPTION,
    SOCKET_OPTION,
    HELP_OPTION,
    { key: 'set', long: '--set', takesValue: false },
    { key: 'live', long: '--live', takesValue: false },
    { key: 'config', long: '--config', takesValue: false },
  ],
  // DOMAIN, then with --set any number of KEY=VALUE words
  positionals: Number.MAX_SAFE_INTEGER,
  async run(_action, opts, io) {
    const [domain, ...rest] = opts.positionals;
    if (domain === undefined) throw usageError('a DOMAIN (name or UUID) is required', 'DOMAIN', '(missing)', 'a domain name or UUID');
    const uri = libvirtUri(opts);
    const host = await readHostFacts();
    const { readDomainPolicy, setDomainPolicy } = await import('../virt/metadata.js');
    if (!opts.values.set) {
      if (rest.length > 0) throw usageError(`unexpected argument ${JSON.stringify(rest[0])} (KEY=VALUE words need --set)`, 'argv', rest[0], 'DOMAIN only, or --set KEY=VALUE...');
      if (opts.values.live) throw usageError('--live is only for --set', '--live', '', '--set');
      const view = await readDomainPolicy(domain, host, { uri, config: opts.values.config === true });
      const settings = effectiveSettings(view.policy);
      if (opts.values.json) {
        printJson(io, { domain: view.name, uuid: view.uuid, active: view.active, present: view.policy.present, policy: Object.fromEntries(settings.map((s) => [s.key, s.value])), settings });
      } else {
        io.out(`Domain: ${view.name} (${view.uuid})${view.policy.present ? '' : '  [no policy in metadata: tiering off]'}\n`);
        io.out(table(['Key', 'Value', 'Source'], settings.map((s) => [s.key, s.value, s.source])));
      }
      return 0;
    }
    if (rest.length === 0) throw usageError('--set needs at least one KEY=VALUE', '--set', '(missing)', 'KEY=VALUE...');
    const result = await setDomainPolicy(domain, rest, host, { uri, target: { live: opts.values.live === true, config: opts.values.config === true } });
    const where = [result.written.live ? 'live' : '', result.written.config ? 'config' : ''].filter((w) => w !== '').join(' and ');
    // A live edit is applied by virt-tierd --auto-domains at its next sync; asking it to sync now makes
    // it take effect at once. Best effort: the edit is written whatever the daemon says.
    let daemon: { synced: boolean; reason?: string } | undefined;
    if (result.written.live) {
      const socket = socketName(opts);
      try {
        const reply = (await daemonCall(socket, 'domain.sync', {}, DAEMON_SYNC_TIMEOUT_MS)) as { autoDomains?: boolean; synced?: boolean };
        daemon = reply?.synced === true ? { synced: true } : { synced: false, reason: 'virt-tierd runs without --auto-domains' };
      } catch (err) {
        daemon = { synced: false, reason: `virt-tierd not reached on socket ${socket} (${(err as Error).message.split('\n')[0]}); its next sync picks the change up` };
      }
    }
    if (opts.values.json) printJson(io, { domain: result.name, uuid: result.uuid, written: result.written, xml: result.xml, ...(daemon ? { daemon } : {}) });
    else {
      io.out(`Policy of domain ${result.name} written (${where}): ${result.xml}\n`);
      if (daemon) io.out(daemon.synced ? 'virt-tierd resynced: the policy is in effect\n' : `virt-tierd not resynced: ${daemon.reason}\n`);
    }
    return 0;
  },
});
