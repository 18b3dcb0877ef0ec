/**
 * The live view in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core; scripts/setup-liveview.sh installs both): the page is
 * loaded from the feed server on loopback while a real registry runs the
 * cslide engine (feed-harness.ts), draws tiers and heat maps, updates live,
 * and the screenshot shows hot, cold and swapped tiles.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { startFeedServer, type FeedServer } from '../../src/feed/server.js';
import { nullLogger } from '../../src/log.js';
import { startHarness, type Harness } from './feed-harness.js';
import { countPixels, decodePng } from './liveview-png.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Written for a human to look at after the run. */
const SCREENSHOT = '/tmp/virt-tier-liveview.png';

describe('live view', () => {
  let h: Harness;
  let feed: FeedServer;
  let browser: import('playwright-core').Browser;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/setup-liveview.sh`);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    h = await startHarness({ tasks: 3, domainTask: true, cycleSleepMs: 100 });
  });
  after(async () => {
    await browser?.close();
    await feed?.close();
    await h?.stop();
  });

  test('draws tiers and a heat map per task, live; the screenshot has hot, cold and swapped tiles', async () => {
    feed = await startFeedServer({ registry: h.registry, scans: h.scans, listen: { host: '127.0.0.1', port: 0 }, log: nullLogger(), updateIntervalMs: 200 });
    const page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(feed.url + '/');
    await page.waitForFunction(() => document.body.dataset.state === 'open' && Number(document.body.dataset.tasks) === 3 && Number(document.body.dataset.tiles) === 3 * 64 && Number(document.body.dataset.updates) >= 3, undefined, { timeout: 15000 });
    const cards = await page.$$eval('.card', (els) => els.map((e) => ({ key: e.getAttribute('data-key'), tiles: Number(e.getAttribute('data-tiles')), tiers: e.querySelectorAll('rect.tier').length })));
    assert.deepEqual(cards.map((c) => c.key), h.taskKeys);
    for (const c of cards) {
      assert.equal(c.tiles, 64);
      assert.ok(c.tiers >= 3, `tier segments for ${c.key}: ${c.tiers}`); // N0 hot/cold, N2 ..., swapped
    }
    assert.equal(await page.locator('.card').first().locator('h2').innerText().then((t) => t.includes('domain dom-0')), true);
    const kinds = await page.$$eval('rect.tile', (els) => els.map((e) => e.classList[1]));
    for (const k of ['hot', 'cold', 'swapped']) assert.ok(kinds.includes(k), `a ${k} tile`);

    // Live: the hot band drifts, so the tiles' colours change between updates.
    const before = await page.$$eval('rect.tile', (els) => els.map((e) => e.getAttribute('fill')).join());
    const updatesBefore = Number(await page.evaluate(() => document.body.dataset.updates));
    await page.waitForFunction((n) => Number(document.body.dataset.updates) >= n + 3, updatesBefore, { timeout: 10000 });
    const after = await page.$$eval('rect.tile', (els) => els.map((e) => e.getAttribute('fill')).join());
    assert.notEqual(after, before, 'the heat map changed with new stats');

    const png = await page.screenshot({ fullPage: true });
    writeFileSync(SCREENSHOT, png);
    const img = decodePng(png);
    assert.equal(img.width, 1400);
    // Colours the page uses: hot rgb(230,50,40), cold rgb(40,110,220), swapped #9aa0a6; a tile is 12x12 px.
    const hotPx = countPixels(img, [230, 50, 40], 30);
    const coldPx = countPixels(img, [40, 110, 220], 30);
    const swapPx = countPixels(img, [0x9a, 0xa0, 0xa6], 4);
    assert.ok(hotPx >= 144, `hot pixels ${hotPx}`);
    assert.ok(coldPx >= 144, `cold pixels ${coldPx}`);
    assert.ok(swapPx >= 144, `swapped pixels ${swapPx}`);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('with a token the page passes on ?token= and gets the feed; without, the feed refuses it', async () => {
    await feed.close();
    const token = 'live-view-token-0123456789';
    feed = await startFeedServer({ registry: h.registry, scans: h.scans, listen: { host: '127.0.0.1', port: 0 }, token, log: nullLogger(), updateIntervalMs: 200 });
    const page = await browser.newPage();
    await page.goto(`${feed.url}/?token=${token}`);
    await page.waitForFunction(() => Number(document.body.dataset.tiles) > 0, undefined, { timeout: 15000 });
    const denied = await browser.newPage();
    await denied.goto(`${feed.url}/`);
    await denied.waitForFunction(() => document.body.dataset.state === 'closed', undefined, { timeout: 15000 });
    assert.equal(await denied.evaluate(() => document.body.dataset.tiles), '0');
    await page.close();
    await denied.close();
  });
});
