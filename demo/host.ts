/**
 * The demo, host side: boots the multi-NUMA testbed with libvirtd inside
 * (docs/testbed.md), runs demo/inner.ts in it, and streams its output to
 * this terminal while it runs. The testbed writes the command's stdout to a
 * file in its run directory (a 9p share), so the host tails that file; the
 * run is found by a token passed in its environment (written into the run's
 * cmd.sh). The live view is rendered here, by the host's headless Chromium
 * (started at once, so its start-up overlaps the boot), through a forward
 * of a free 127.0.0.1 port to the testbed's NIC (harness option
 * hostForward), when the run says it is ready; what was rendered goes back
 * in `liveview.done` in the run directory. The PNG and the transcript are
 * written to demo-output/.
 *
 *   bash scripts/demo.sh            (setup, build, then this)
 *   node dist/demo/host.js [--quota-mib 16]
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { repoRoot, runInTestbed, testbedAvailability, TestbedError } from '../test/testbed/harness.js';

const POOL_PAGES = 72; // 144 MiB of 2 MiB hugepages on node 0 and on node 2: two 64 MiB guests and some room
/** The relay's port on the testbed's NIC (demo/inner.ts). */
const GUEST_PORT = 8078;
const CHROMIUM = '/usr/bin/chromium';

/** A port nobody listens on now on 127.0.0.1 (the kernel's pick), for QEMU's forward. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Headless Chromium through playwright-core, or why not (scripts/setup-liveview.sh installs both). */
async function launchChromium(): Promise<Browser | string> {
  if (!existsSync(CHROMIUM)) return `skipped: ${CHROMIUM} missing (scripts/setup-liveview.sh installs it)`;
  try {
    const { chromium } = await import('playwright-core');
    return await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'], timeout: 60_000 });
  } catch (err) {
    return `skipped: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** The live view at `url` once it shows `tasks` tasks and two updates, as a PNG; returns what it showed. */
async function render(browser: Browser | string, url: string, tasks: number, file: string): Promise<string> {
  if (typeof browser === 'string') return browser;
  const page = await browser.newPage({ viewport: { width: 1200, height: 640 } });
  try {
    await page.goto(url, { timeout: 30_000 });
    await page.waitForFunction((n) => document.body.dataset.state === 'open' && Number(document.body.dataset.tasks) >= n && Number(document.body.dataset.updates) >= 2, tasks, { timeout: 30_000 });
    await page.screenshot({ path: file, fullPage: true });
    return `${await page.evaluate(() => `${document.body.dataset.tasks} tasks, ${document.body.dataset.tiles} tiles`)} (${file})`;
  } finally {
    await page.close();
  }
}

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
  let pngWritten = false;
  let rendering = false;
  const hostPort = await freePort();
  const browser = launchChromium();
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
    const ready = /live view ready for (\d+) guests/.exec(text);
    if (ready && !rendering) {
      rendering = true;
      const dir = runDir;
      void browser
        .then((b) => render(b, `http://127.0.0.1:${hostPort}/`, Number(ready[1]), pngOut))
        .then((what) => {
          pngWritten = !what.startsWith('skipped');
          return what;
        }, (err: Error) => `failed: ${err.message.split('\n')[0]}`)
        .then((what) => writeFileSync(path.join(dir, 'liveview.done'), `${what}\n`));
    }
  };
  const timer = setInterval(pump, 200);
  try {
    const r = await runInTestbed({
      command: `node dist/demo/inner.js ${args}`,
      hugepagesPerNode: { 0: POOL_PAGES, 2: POOL_PAGES },
      libvirt: true,
      timeoutMs: 300_000,
      env: { VIRT_TIER_DEMO_TOKEN: token, VIRT_TIER_DEMO_GUEST_PORT: String(GUEST_PORT) },
      hostForward: { hostPort, guestPort: GUEST_PORT },
    });
    clearInterval(timer);
    // What the tail did not show yet (the run directory is gone by now).
    if (r.stdout.length > printed) show(r.stdout.slice(printed));
    if (r.exitCode !== 0) {
      process.stderr.write(`demo: the run inside the testbed failed (exit ${r.exitCode}):\n${r.stderr.split('\n').slice(-30).join('\n')}\n`);
      return 1;
    }
    show(`(testbed: ${(r.durationMs / 1000).toFixed(0)} s, boot and power-off included)\n`);
    if (pngWritten) show(`live view screenshot: ${pngOut}\n`);
    writeFileSync(path.join(outDir, 'demo.txt'), transcript);
    show(`transcript: ${path.join(outDir, 'demo.txt')}\n`);
    return 0;
  } catch (err) {
    clearInterval(timer);
    process.stderr.write(`demo: ${err instanceof TestbedError ? err.message : String(err)}\n`);
    return 1;
  } finally {
    const b = await browser;
    if (typeof b !== 'string') await b.close();
  }
}

process.exitCode = await main();
