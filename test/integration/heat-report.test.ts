/**
 * `virt-tier report`: a task's heat over address and time, from the heat
 * history the daemon's scan observer keeps, through a real control socket,
 * written as SVG and PNG; the SVG is opened in headless Chromium (Debian's
 * /usr/bin/chromium, playwright-core) and both images are checked for the
 * drifting hot band the synthetic guests of the feed harness have.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ControlServer } from '../../src/api/server.js';
import { createHandlers } from '../../src/api/handlers.js';
import { heatReportHandlers } from '../../src/feed/report-handler.js';
import { command as report } from '../../src/cli/report.js';
import { nullLogger } from '../../src/log.js';
import { startHarness, type Harness } from './feed-harness.js';
import { decodePng } from './liveview-png.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  return report.run(args, { out: (t) => void (out += t), err: (t) => void (err += t) }).then((code) => ({ code, out, err }));
}

describe('virt-tier report', () => {
  let h: Harness;
  let server: ControlServer;
  const socket = `vt-report-${process.pid}-${Date.now()}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'vt-report-'));
  before(async () => {
    h = await startHarness({ tasks: 2, pagesPerTask: 96, heatBuckets: 48, cycleSleepMs: 20 });
    server = new ControlServer({
      socketName: socket,
      log: nullLogger(),
      handlers: createHandlers({ registry: h.registry, loadConfigFile: () => { throw new Error('unused'); }, hostFacts: () => ({ numaNodes: [0], cpuCount: 2 }), startedAtMs: Date.now(), version: 'test', extra: heatReportHandlers(h.scans) }),
    });
    await server.listen();
    for (let i = 0; i < 400 && (h.scans.get('feedtest/cslide/vm0')?.heatHistory.length ?? 0) < 8; i++) await new Promise((r) => setTimeout(r, 25));
  });
  after(async () => {
    await server?.close();
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('SVG and PNG of the last cycles; the hot band drifts across the rows; Chromium renders the SVG', async () => {
    const svgFile = path.join(dir, 'vm0.svg');
    const r = await runCli(['vm0', '--out', svgFile, '--cycles', '6', '-s', socket]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /6 cycles of feedtest\/cslide\/vm0/);
    const svg = readFileSync(svgFile, 'utf8');
    assert.equal((svg.match(/data-cycle="/g) ?? []).length, 6 * 48);

    const pngFile = path.join(dir, 'vm0.png');
    assert.equal((await runCli(['vm0', '-o', pngFile, '--cycles', '6', '-s', socket])).code, 0);
    const png = decodePng(readFileSync(pngFile));
    assert.deepEqual([png.width, png.height], [48 * 6, 6 * 6]);
    // Per row (cycle), the column of the reddest cell: the band moves between cycles.
    const hottest = Array.from({ length: 6 }, (_, row) => {
      let best = -1;
      let bestScore = -Infinity;
      for (let x = 0; x < png.width; x += 6) {
        const o = ((row * 6 + 3) * png.width + x + 3) * 4;
        const score = png.data[o]! - png.data[o + 2]!;
        if (score > bestScore) [best, bestScore] = [x / 6, score];
      }
      return { best, bestScore };
    });
    assert.ok(hottest.every((h) => h.bestScore > 100), `every cycle has a red (hot) cell: ${JSON.stringify(hottest)}`);
    assert.ok(new Set(hottest.map((h) => h.best)).size > 1, `the hot band drifts: ${JSON.stringify(hottest)}`);

    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/setup-liveview.sh`);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    try {
      const page = await browser.newPage();
      await page.goto(`file://${svgFile}`);
      const seen = await page.evaluate(() => ({ cells: document.querySelectorAll('rect[data-cycle]').length, title: document.querySelector('title')?.textContent ?? '' }));
      assert.deepEqual(seen, { cells: 6 * 48, title: 'feedtest/cslide/vm0 (synthetic)' });
      const shot = decodePng(await page.screenshot({ clip: { x: 0, y: 24, width: 48 * 6, height: 36 } }));
      let red = 0;
      for (let i = 0; i < shot.data.length; i += 4) if (shot.data[i]! > 180 && shot.data[i + 2]! < 90) red++;
      assert.ok(red > 0, 'Chromium drew hot cells');
    } finally {
      await browser.close();
    }
  });

  test('bad input: a bad image type, an unknown task, --cycles out of range', async () => {
    const gif = await runCli(['vm0', '--out', path.join(dir, 'x.gif'), '-s', socket]);
    assert.equal(gif.code, 2);
    assert.match(gif.err, /--out.*\.svg or \.png/);
    const none = await runCli(['no-such-task', '--out', path.join(dir, 'x.svg'), '-s', socket, '-c', 'test:///default']);
    assert.equal(none.code, 1);
    assert.match(none.err, /OPT_TASK_NOEXIST.*no-such-task.*feedtest\/cslide\/vm0/);
    const cycles = await runCli(['vm0', '--out', path.join(dir, 'x.svg'), '--cycles', '0', '-s', socket]);
    assert.equal(cycles.code, 2);
    assert.match(cycles.err, /--cycles.*1\.\.120/);
    assert.ok(!existsSync(path.join(dir, 'x.svg')), 'nothing written on bad input');
  });
});
