/**
 * What `list` and `stats` show of a domain's tiering: the state from its
 * <metadata> policy, and hot/cold per node asked of virt-tierd (here a
 * stand-in server on a test socket speaking src/api/protocol.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { daemonDomainUsage, domainTiering } from '../../src/cli/domain-tiering.js';
import { encodeFrame, FrameDecoder, MAX_REQUEST_BYTES, parseRequest, socketAddress, type Request } from '../../src/api/protocol.js';
import { POLICY_NAMESPACE } from '../../src/virt/policy.js';
import { HOST } from './config-helpers.js';
import { showTaskPages } from '../../src/runner/builtin-engine.js';

const UUID = '3cead87f-c9e1-43c3-8d77-f848bbcff52f';
const UUID_REAL = '3cead87f-c9e1-43c3-8d77-f848bbcff530';
const domainXml = (metadata: string): string =>
  `<domain type='qemu'><name>vm1</name><uuid>${UUID}</uuid><metadata>${metadata}</metadata><memory>1</memory></domain>`;

describe('domainTiering', () => {
  test('no policy: off', () => assert.deepEqual(domainTiering(domainXml(''), HOST, 'vm1'), { tiering: 'off', engine: null }));
  test('an enabled policy: on, with its engine', () => {
    assert.deepEqual(domainTiering(domainXml(`<tier:policy xmlns:tier="${POLICY_NAMESPACE}" engine="slide"/>`), HOST, 'vm1'), { tiering: 'on', engine: 'slide' });
  });
  test('a disabled policy: off', () => {
    assert.deepEqual(domainTiering(domainXml(`<tier:policy xmlns:tier="${POLICY_NAMESPACE}" enabled="no"/>`), HOST, 'vm1'), { tiering: 'off', engine: null });
  });
  test('an invalid policy is reported by domain and key, not thrown', () => {
    const t = domainTiering(domainXml(`<tier:policy xmlns:tier="${POLICY_NAMESPACE}" enabled="yes" node_mig_quota="99999999999"/>`), HOST, 'vm1');
    assert.equal(t.tiering, 'invalid');
    assert.equal(t.engine, null);
    assert.match(t.policyError ?? '', /domain "vm1" policy\.node_mig_quota/);
  });
});

describe('daemonDomainUsage', () => {
  const SOCKET = `vt-unit-tiering-${process.pid}`;
  const requests: Request[] = [];
  let server: net.Server;
  before(async () => {
    server = net.createServer((sock) => {
      const decoder = new FrameDecoder(MAX_REQUEST_BYTES);
      sock.on('error', () => {});
      sock.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) {
          const req = parseRequest(frame);
          requests.push(req);
          if (req.cmd === 'domain.sync.status') {
            // the daemon names where the domain's task lives: its group's host-wide project
            const placements = { [UUID]: { project: 'auto-cslide', engine: 'cslide', task: `domain-${UUID}` }, [UUID_REAL]: { project: 'auto-cslide', engine: 'cslide', task: `domain-${UUID_REAL}` } };
            sock.write(encodeFrame({ v: 1, id: req.id, ok: true, result: { autoDomains: true, managed: [UUID], placements, errors: {} } }));
            continue;
          }
          if ((req.args as { task?: string }).task === `domain-${UUID_REAL}`) {
            // the engine's own showtaskpages --json reply (nodes as a list)
            const stats = new Map([[`domain-${UUID_REAL}`, new Map([[77, { report: { pid: 77, timeMs: 1, nodes: { 0: { usedBytes: 16, hotBytes: 16, coldBytes: 0 }, 2: { usedBytes: 48, hotBytes: 0, coldBytes: 48 } } }, nodeIds: [0, 1, 2, 3] }]])]]);
            sock.write(encodeFrame({ v: 1, id: req.id, ok: true, result: showTaskPages(stats as never, { task: `domain-${UUID_REAL}`, json: true }) }));
            continue;
          }
          // two tasks' reports for one project: the CLI sums them per node
          const result = { tasks: [{ nodes: { 0: { usedBytes: 3, hotBytes: 1, coldBytes: 2 } } }, { nodes: { 0: { usedBytes: 4, hotBytes: 4 }, 1: { usedBytes: 8, coldBytes: 8 } } }] };
          sock.write(encodeFrame({ v: 1, id: req.id, ok: true, result }));
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: socketAddress(SOCKET) }, () => resolve());
    });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("asks the daemon where the domain's task is, then its showtaskpages, and sums hot/cold per node", async () => {
    const nodes = await daemonDomainUsage(SOCKET, UUID, { tiering: 'on', engine: 'cslide' });
    assert.deepEqual(nodes, { 0: { usedBytes: 7, hotBytes: 5, coldBytes: 2 }, 1: { usedBytes: 8, hotBytes: 0, coldBytes: 8 } });
    const req = requests.at(-1)!;
    assert.equal(requests.at(-2)!.cmd, 'domain.sync.status');
    assert.equal(req.cmd, 'engine.cmd');
    assert.deepEqual(req.args, { project: 'auto-cslide', engine: 'cslide', cmd: 'showtaskpages', task: `domain-${UUID}`, json: true });
  });

  test("the engine's real showtaskpages --json reply (nodes as a list) gives hot/cold per node", async () => {
    const nodes = await daemonDomainUsage(SOCKET, UUID_REAL, { tiering: 'on', engine: 'cslide' });
    assert.deepEqual(nodes, { 0: { usedBytes: 16, hotBytes: 16, coldBytes: 0 }, 1: { usedBytes: 0, hotBytes: 0, coldBytes: 0 }, 2: { usedBytes: 48, hotBytes: 0, coldBytes: 48 }, 3: { usedBytes: 0, hotBytes: 0, coldBytes: 0 } });
  });

  test('a domain the daemon does not tier: undefined, no page report asked', async () => {
    const before = requests.length;
    assert.equal(await daemonDomainUsage(SOCKET, '00000000-0000-0000-0000-000000000009', { tiering: 'on', engine: 'cslide' }), undefined);
    assert.deepEqual(requests.slice(before).map((r) => r.cmd), ['domain.sync.status']);
  });

  test('tiering off or invalid: the daemon is not asked', async () => {
    const before = requests.length;
    assert.equal(await daemonDomainUsage(SOCKET, UUID, { tiering: 'off', engine: null }), undefined);
    assert.equal(await daemonDomainUsage(SOCKET, UUID, { tiering: 'invalid', engine: null, policyError: 'x' }), undefined);
    assert.equal(requests.length, before);
  });

  test('no daemon on the socket: undefined, not an error', async () => {
    assert.equal(await daemonDomainUsage(`${SOCKET}-absent`, UUID, { tiering: 'on', engine: 'slide' }), undefined);
  });
});
