/**
 * Feed fan-out benchmark: the daemon's CPU and memory with 20 tasks (the
 * real registry and cslide engine over simulated guests, as in the feed
 * tests, one cycle per second) in two runs side by side:
 *   baseline  the tasks alone, no feed server
 *   feed      the same plus the feed server at 1 update/s and 100 websocket
 *             clients (in a separate process, bench/feed-clients.ts)
 * Reports CPU (seconds per second of wall time), RSS growth over the run, and
 * what the clients received. Run as root after `npx tsc -p .`:
 *   node dist/bench/feed.js [--clients N] [--tasks N] [--seconds S]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFeedServer } from '../src/feed/server.js';
import { nullLogger } from '../src/log.js';
import { startHarness } from '../test/integration/feed-harness.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Sample { cpuPerSecond: number; rssStartMiB: number; rssEndMiB: number; rssPeakMiB: number }

async function measure(seconds: number): Promise<Sample> {
  global.gc?.();
  const rssStart = process.memoryUsage.rss();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let peak = rssStart;
  for (let s = 0; s < seconds * 4; s++) {
    await sleep(250);
    peak = Math.max(peak, process.memoryUsage.rss());
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = (performance.now() - t0) / 1000;
  return { cpuPerSecond: (cpu.user + cpu.system) / 1e6 / wall, rssStartMiB: rssStart / 1048576, rssEndMiB: process.memoryUsage.rss() / 1048576, rssPeakMiB: peak / 1048576 };
}

async function main(): Promise<void> {
  const clients = arg('--clients', 100);
  const tasks = arg('--tasks', 20);
  const seconds = arg('--seconds', 20);
  const h = await startHarness({ tasks, cycleSleepMs: 1000 });
  try {
    await sleep(2000); // first rounds done
    const baseline = await measure(seconds);
    const feed = await startFeedServer({ registry: h.registry, scans: h.scans, listen: { host: '127.0.0.1', port: 0 }, log: nullLogger(), updateIntervalMs: 1000 });
    const here = path.dirname(fileURLToPath(import.meta.url));
    const child = spawn(process.execPath, [path.join(here, 'feed-clients.js'), feed.url.replace(/^http/, 'ws') + '/feed', String(clients), String((seconds + 10) * 1000)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 100 && feed.counters().clients < clients; i++) await sleep(100);
    await sleep(2000);
    const withFeed = await measure(seconds);
    const counters = feed.counters();
    child.kill('SIGTERM');
    await once(child, 'exit');
    const received = JSON.parse(out.trim().split('\n').pop()!) as { connected: number; messages: number; bytes: number };
    await feed.close();
    const row = (name: string, s: Sample): string => `| ${name} | ${s.cpuPerSecond.toFixed(3)} | ${s.rssStartMiB.toFixed(0)} | ${s.rssEndMiB.toFixed(0)} | ${s.rssPeakMiB.toFixed(0)} |`;
    process.stdout.write(
      `${tasks} tasks (cslide over simulated guests, 1 cycle/s), ${clients} feed clients at 1 update/s, ${seconds} s per run (${os.cpus().length} CPUs, kernel ${os.release()})\n\n` +
      '| run | daemon CPU (s/s) | RSS start (MiB) | RSS end (MiB) | RSS peak (MiB) |\n|---|---:|---:|---:|---:|\n' +
      row('baseline: tasks, no feed', baseline) + '\n' + row(`feed + ${clients} clients`, withFeed) + '\n\n' +
      `feed cost: ${((withFeed.cpuPerSecond - baseline.cpuPerSecond) * 1000).toFixed(1)} ms CPU per second (${(((withFeed.cpuPerSecond - baseline.cpuPerSecond) * 1e6) / clients).toFixed(0)} us per client per update), ` +
      `CPU ratio feed/baseline ${(withFeed.cpuPerSecond / baseline.cpuPerSecond).toFixed(2)}x; clients received ${received.messages} messages, ${(received.bytes / 1048576).toFixed(1)} MiB ` +
      `(${(received.bytes / Math.max(1, received.messages) / 1024).toFixed(1)} KiB per message); dropped updates ${counters.droppedUpdates}, clients dropped ${counters.slowClientsDropped + counters.deadClientsDropped}\n`,
    );
  } finally {
    await h.stop();
  }
}

await main();
