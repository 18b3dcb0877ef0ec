/**
 * The demo, host side: boots the multi-NUMA testbed with libvirtd inside
 * (docs/testbed.md), runs demo/inner.ts in it, and streams its output to
 * this terminal while it runs. The testbed writes the command's stdout to a
 * file in its run directory (a 9p share), so the host tails that file; the
 * run is found by a token passed in its environment (written into the run's
 * cmd.sh). The live view's PNG, rendered inside, is copied out of the run
 * directory as soon as it appears; the transcript is written beside it
 * (demo-output/).
 *
 *   bash scripts/demo.sh            (setup, build, then this)
 *   node dist/demo/host.js [--quota-mib 16]
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, runInTestbed, testbedAvailability, TestbedError } from '../test/testbed/harness.js';

const POOL_PAGES = 72; // 144 MiB of 2 MiB hugepages on node 0 and on node 2: two 64 MiB guests and some room

function findRunDir(runsDir: string, token: string): string | undefined {
  if (!existsSync(runsDir)) return undefined;
  for (const name of readdirSync(runsDir)) {
    const cmd = path.join(runsDir, name, 'cmd.sh');
    try {
      if (readFileSync(cmd, 'utf8').includes(token)) return path.join(runsDir, name);
    } catch {
      // not written yet, or removed
    }
  }
  return undefined;
}

async function main(): Promise<number> {
  const availability = testbedAvailability();
  if (!availability.available) {
    process.stderr.write(`demo: the testbed is not available: ${availability.reason}\n`);
    return 1;
  }
  const args = process.argv.slice(2).filter((a) => /^--?[a-z-]+$|^\d+$/.test(a)).join(' ');
  const outDir = path.join(repoRoot(), 'demo-output');
  mkdirSync(outDir, { recursive: true });
  const pngOut = path.join(outDir, 'liveview.png');
  let transcript = '';
  const show = (text: string): void => {
    transcript += text;
    process.stdout.write(text);
  };
  show('virt-tier demo: booting a QEMU testbed with 4 NUMA nodes (2 DRAM, 2 memory-only AEP/CXL) and libvirtd inside...\n');
  const token = `demo-${randomBytes(6).toString('hex')}`;
  const runsDir = path.join(repoRoot(), '.testbed-cache', 'runs');
  let printed = 0;
  let runDir: string | undefined;
  let pngCopied = false;
  const pump = (): void => {
    runDir ??= findRunDir(runsDir, token);
    if (!runDir) return;
    let text: string;
    try {
      text = readFileSync(path.join(runDir, 'stdout'), 'utf8');
    } catch {
      return;
    }
    // Whole lines only: the guest may be half-way through one.
    const end = text.lastIndexOf('\n') + 1;
    if (end > printed) {
      show(text.slice(printed, end));
      printed = end;
    }
    const png = path.join(runDir, 'liveview.png');
    if (!pngCopied && /live view: \d+ tasks/.test(text) && existsSync(png)) {
      copyFileSync(png, pngOut);
      pngCopied = true;
    }
  };
  const timer = setInterval(pump, 200);
  try {
    const r = await runInTestbed({
      command: `node dist/demo/inner.js ${args}`,
      hugepagesPerNode: { 0: POOL_PAGES, 2: POOL_PAGES },
      libvirt: true,
      timeoutMs: 300_000,
      env: { VIRT_TIER_DEMO_TOKEN: token },
    });
    clearInterval(timer);
    // What the tail did not show yet (the run directory is gone by now).
    if (r.stdout.length > printed) show(r.stdout.slice(printed));
    if (r.exitCode !== 0) {
      process.stderr.write(`demo: the run inside the testbed failed (exit ${r.exitCode}):\n${r.stderr.split('\n').slice(-30).join('\n')}\n`);
      return 1;
    }
    show(`(testbed: ${(r.durationMs / 1000).toFixed(0)} s, boot and power-off included)\n`);
    if (pngCopied) show(`live view screenshot: ${pngOut}\n`);
    writeFileSync(path.join(outDir, 'demo.txt'), transcript);
    show(`transcript: ${path.join(outDir, 'demo.txt')}\n`);
    return 0;
  } catch (err) {
    clearInterval(timer);
    process.stderr.write(`demo: ${err instanceof TestbedError ? err.message : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main();
