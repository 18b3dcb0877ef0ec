/**
 * The bash completion (completion/virt-tier) against the code: its verbs are
 * the CLI's, each verb's options are the ones its usage names, the daemon's
 * are virt-tierd's --help. Driven through bash itself: the script is sourced
 * and its function called with COMP_WORDS/COMP_CWORD, as bash does on TAB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commands } from '../../src/cli/commands.js';
import { SORT_COLUMNS } from '../../src/cli/top.js';
import { DAEMON_USAGE } from '../../src/daemon/args.js';
import { TRACKER_NAMES } from '../../src/scan/choose-tracker.js';
import { complete } from './completion-helpers.js';

const longs = (text: string): string[] => [...new Set(text.match(/(?<![\w-])--[a-z][a-z_-]*[a-z]/g) ?? [])].sort();

test('completion: the verbs are the CLI\'s', () => {
  const r = complete(['virt-tier', '']);
  assert.deepEqual(r.replies.sort(), [...commands.map((c) => c.name), 'help'].sort());
  assert.deepEqual(complete(['virt-tier', 'pro']).replies, ['project']);
});

test('completion: each verb offers exactly the options it accepts, short and long', () => {
  for (const c of commands) {
    const action = c.name === 'obj' ? ['add'] : c.name === 'project' ? ['show'] : c.name === 'engine' ? ['showtaskpages'] : [];
    const offered = complete(['virt-tier', c.name, ...action, '-']).replies;
    assert.deepEqual(offered.sort(), [...(c.flags ?? [])].sort(), c.name);
  }
});

test('completion: virt-tierd\'s options are its --help\'s; value lists match the code', () => {
  assert.deepEqual(complete(['virt-tierd', '--']).replies.sort(), longs(DAEMON_USAGE).concat('--help').filter((v, i, a) => a.indexOf(v) === i).sort());
  assert.deepEqual(complete(['virt-tierd', '--tracker', '']).replies, ['auto', ...TRACKER_NAMES]);
  assert.deepEqual(complete(['virt-tier', 'top', '--sort', '']).replies, [...SORT_COLUMNS]);
  assert.deepEqual(complete(['virt-tier', 'obj', '']).replies, ['add', 'del']);
  assert.deepEqual(complete(['virt-tier', 'project', 's']).replies, ['start', 'stop', 'show']);
});
