/**
 * The Grafana dashboard and the Prometheus alert rules in conf/ against a
 * real daemon: every metric they query is in a real /metrics scrape (a
 * daemon with --http and a started task), promtool accepts the scrape
 * (`check metrics`) and the rules (`check rules`), and the rules' own unit
 * test passes (`test rules conf/prometheus-alerts.test.yml`). promtool is
 * Debian's, unpacked by scripts/setup-service.sh into .cache/prometheus.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot, startDaemon, writeConfig, type TestDaemon } from './helpers/daemon.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Series Prometheus makes itself for every scrape: not in any /metrics. */
const SYNTHETIC = new Set(['up']);

function promtool(): string {
  const cached = path.join(repoRoot, '.cache/prometheus/usr/bin/promtool');
  if (existsSync(cached)) return cached;
  if (spawnSync('promtool', ['--version']).status === 0) return 'promtool';
  assert.fail('promtool missing: run scripts/setup-service.sh');
}

/** Metric names in PromQL text: identifiers followed by `{`, `[`, `)` or an operator, that are not functions or label names. */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  const withoutLabels = withoutStrings.replace(/\{[^}]*\}/g, '{}').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const words = withoutLabels.match(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()/g) ?? [];
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'vector', 'by', 'without', 'on', 'ignoring', 'inf', 'nan', 'm', 's', 'h']);
  return [...new Set(words.filter((w) => !keywords.has(w) && !/^\d/.test(w)))];
}

function queriedMetrics(): Map<string, string> {
  const where = new Map<string, string>();
  const dash = JSON.parse(readFileSync(path.join(repoRoot, 'conf/grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }>; templating: { list: Array<{ name: string; definition?: string }> } };
  for (const p of dash.panels) for (const t of p.targets) for (const m of metricNames(t.expr)) where.set(m, `dashboard panel "${p.title}"`);
  for (const v of dash.templating.list) if (v.definition) for (const m of metricNames(v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1'))) where.set(m, `dashboard variable ${v.name}`);
  const rules = readFileSync(path.join(repoRoot, 'conf/prometheus-alerts.yml'), 'utf8');
  for (const block of rules.split(/\n\s+- alert: /).slice(1)) {
    const name = block.split('\n')[0]!.trim();
    const expr = /expr: (\|\n(?:\s{10,}.*\n)+|.*)/.exec(block)![1]!;
    for (const m of metricNames(expr.replace(/^\|/, ''))) where.set(m, `alert ${name}`);
  }
  return where;
}

describe('dashboards and alert rules against a real /metrics', () => {
  let d: TestDaemon;
  let target: ChildProcess;
  let scrape = '';

  before(async () => {
    const port = await freePort();
    d = await startDaemon(['--no-libvirt', '--no-config', '--http', `127.0.0.1:${port}`]);
    target = spawn('sleep', ['300'], { stdio: 'ignore' });
    await once(target, 'spawn');
    const file = writeConfig(`[project]\nname=dash\nloop=1\ninterval=1\nsleep=1\n\n[engine]\nproject=dash\nname=slide\n\n[task]\nproject=dash\nengine=slide\nname=t1\ntype=pid\nvalue=${target.pid}\nT=1\n`);
    assert.equal(d.cli(['obj', 'add', '-f', file]).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'dash']).code, 0);
    scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  });
  after(async () => {
    target?.kill();
    await d?.stop();
  });

  test('every metric the dashboard and the rules query is in the scrape', () => {
    const queried = queriedMetrics();
    assert.ok(queried.size >= 8, `found ${[...queried.keys()].join(', ')}`);
    const missing = [...queried].filter(([m]) => !SYNTHETIC.has(m) && !new RegExp(`^# TYPE ${m} `, 'm').test(scrape)).map(([m, where]) => `${m} (${where})`);
    assert.deepEqual(missing, []);
    assert.match(scrape, /^virt_tier_task_info\{project="dash",engine="slide",task="t1",/m, 'the started task is in the scrape');
  });

  test('promtool check metrics accepts the scrape', () => {
    const r = spawnSync(promtool(), ['check', 'metrics'], { input: scrape, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  test('promtool check rules, and the rules\' unit test', () => {
    const check = spawnSync(promtool(), ['check', 'rules', path.join(repoRoot, 'conf/prometheus-alerts.yml')], { encoding: 'utf8' });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    const unit = spawnSync(promtool(), ['test', 'rules', 'prometheus-alerts.test.yml'], { cwd: path.join(repoRoot, 'conf'), encoding: 'utf8' });
    assert.equal(unit.status, 0, `${unit.stdout}${unit.stderr}`);
  });
});
