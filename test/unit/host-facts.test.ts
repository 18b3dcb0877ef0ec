import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readHostFacts } from '../../src/model/host-facts.js';
import { MemoryIO, RecordingIO, rootedIO } from '../../src/platform/io.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/platform');

test('readHostFacts: node ids from the nodeN directories of the recorded kernels, [0] without NUMA sysfs, the CPU count', async () => {
  assert.deepEqual((await readHostFacts(rootedIO(path.join(FIXTURES, 'testbed-6.12')))).numaNodes, [0, 1, 2, 3]);
  assert.deepEqual((await readHostFacts(rootedIO(path.join(FIXTURES, 'host-6.18')))).numaNodes, [0]);
  const bare = new RecordingIO(new MemoryIO({ '/proc/meminfo': 'MemTotal: 1 kB\n' }));
  assert.deepEqual(await readHostFacts(bare), { numaNodes: [0], cpuCount: os.availableParallelism() });
  assert.deepEqual(bare.ops.map((o) => [o.op, o.path, o.error]), [['readDir', '/sys/devices/system/node', 'ENOENT']]);
});
