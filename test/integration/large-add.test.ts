/**
 * A large configuration file is parsed off the daemon's event loop: while
 * a long `obj add` of a YAML file runs, `project show` is answered
 * (asserted by the order of events: a show's answer arrives before the
 * add's, not by timing), and a 10 MiB file is refused by the complexity
 * bound instead of holding the daemon for 20 s at 1.5 GB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cliBin, startDaemon, writeConfig, type RunResult } from './helpers/daemon.js';
import { MAX_CONFIG_FILE_BYTES } from '../../src/config/file.js';
import { YAML_MAX_TOKENS } from '../../src/config/yaml.js';

function cliAsync(socket: string, args: string[]): { done: Promise<RunResult>; finished(): boolean } {
  let finished = false;
  const done = new Promise<RunResult>((resolve) => {
    const p = spawn(process.execPath, [cliBin, ...args, '-s', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('exit', (code) => {
      finished = true;
      resolve({ code, stdout, stderr });
    });
  });
  return { done, finished: () => finished };
}

function tasksYaml(maxBytes: number): string {
  // Many small flow mappings: the costliest shape per byte for the parser.
  const lines = ['projects:', '  - {name: p, loop: 1, interval: 1, sleep: 1}', 'tasks:'];
  let size = lines.join('\n').length;
  for (let i = 0; size < maxBytes - 100; i++) {
    const line = `  - {project: p, engine: slide, name: t${i}, type: pid, value: 1}`;
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n') + '\n';
}

test('project show is answered while a large YAML obj add is parsed; a 10 MiB one is refused as too complex', async () => {
  const d = await startDaemon();
  try {
    // Under the complexity bound (some 22,000 tasks): parsed, for seconds, off the event loop.
    const heavy = tasksYaml(Math.floor(YAML_MAX_TOKENS / 2 / 45) * 70);
    const add = cliAsync(d.socket, ['obj', 'add', '-f', writeConfig(heavy, { ext: '.yaml' })]);
    let answeredDuringAdd = 0;
    while (!add.finished()) {
      const r = await cliAsync(d.socket, ['project', 'show']).done;
      assert.equal(r.code, 0, r.stderr);
      if (!add.finished()) answeredDuringAdd++;
    }
    const result = await add.done;
    assert.ok(answeredDuringAdd >= 1, 'no project show was answered while the add ran');
    // Parsed whole, then refused by the schema: no half-added state.
    assert.equal(result.code, 1, result.stdout);
    // A task key error is OPT_INTER_ERR, as etmem answers it (etmemd_project.c etmemd_project_add_task).
    assert.match(result.stderr, /OPT_INTER_ERR: config file .*: line 4: task\[0\]\./);

    // At the file size limit: refused by the bound before the parser builds anything.
    const huge = await cliAsync(d.socket, ['obj', 'add', '-f', writeConfig(tasksYaml(MAX_CONFIG_FILE_BYTES), { ext: '.yaml' })]).done;
    assert.equal(huge.code, 1, huge.stdout);
    assert.match(huge.stderr, new RegExp(`too complex: "more than ${YAML_MAX_TOKENS} tokens"`));
    assert.match(d.cli(['project', 'show']).stdout, /no project exists/);
    assert.equal(d.alive(), true);
  } finally {
    await d.stop();
  }
});
