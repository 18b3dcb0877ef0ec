/**
 * Command-line front of the testbed, for people and demos:
 *
 *   node dist/test/testbed/run.js [--hugepages 0:64,2:64] [--timeout-ms 120000] [--hmat] [--libvirt] -- COMMAND...
 *
 * Prints the command's stdout and stderr and exits with its exit code
 * (125 when the testbed itself failed).
 */
import { runInTestbed, TestbedError } from './harness.js';

function usage(): never {
  process.stderr.write('usage: run.js [--hugepages NODE:COUNT,...] [--timeout-ms MS] [--console] [--hmat] [--libvirt] -- COMMAND...\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
const hugepagesPerNode: Record<number, number> = {};
let timeoutMs = 120_000;
let showConsole = false;
let hmat = false;
let libvirt = false;
while (argv.length > 0 && argv[0] !== '--') {
  const flag = argv.shift()!;
  if (flag === '--hugepages') {
    for (const spec of (argv.shift() ?? '').split(',').filter(Boolean)) {
      const m = /^(\d+):(\d+)$/.exec(spec);
      if (!m) usage();
      hugepagesPerNode[Number(m[1])] = Number(m[2]);
    }
  } else if (flag === '--timeout-ms') {
    timeoutMs = Number(argv.shift());
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) usage();
  } else if (flag === '--console') {
    showConsole = true;
  } else if (flag === '--hmat') {
    hmat = true;
  } else if (flag === '--libvirt') {
    libvirt = true;
  } else {
    usage();
  }
}
argv.shift();
if (argv.length === 0) usage();

try {
  const result = await runInTestbed({ command: argv.join(' '), hugepagesPerNode, timeoutMs, hmat, libvirt });
  if (showConsole) process.stderr.write(result.console);
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.stderr.write(`testbed: exit ${result.exitCode} after ${result.durationMs} ms\n`);
  process.exitCode = result.exitCode;
} catch (err) {
  process.stderr.write(`${err instanceof TestbedError ? err.message : String(err)}\n`);
  process.exitCode = 125;
}
