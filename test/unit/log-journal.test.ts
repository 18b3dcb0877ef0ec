import { test } from 'node:test';
import assert from 'node:assert/strict';
import { journalLine, stderrIsJournal } from '../../src/log.js';

test('journal lines: syslog priority per level, one line even for a stack trace', () => {
  assert.equal(journalLine('error', 'boom', { error: 'Error: x\n    at y' }), '<3>boom {"error":"Error: x\\n    at y"}');
  assert.equal(journalLine('warn', 'two\nlines', {}), '<4>two\\nlines');
  assert.equal(journalLine('info', 'm', {}), '<6>m');
  assert.equal(journalLine('debug', 'm', {}), '<7>m');
});

test('JOURNAL_STREAM counts only when it names stderr itself', () => {
  const st = () => ({ dev: 27, ino: 9001 });
  assert.equal(stderrIsJournal({ JOURNAL_STREAM: '27:9001' }, st), true);
  assert.equal(stderrIsJournal({ JOURNAL_STREAM: '27:9002' }, st), false);
  assert.equal(stderrIsJournal({}, st), false);
  assert.equal(stderrIsJournal({ JOURNAL_STREAM: '27:9001' }, () => { throw new Error('EBADF'); }), false);
});
