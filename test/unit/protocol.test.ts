import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSocketName, encodeFrame, FrameDecoder, parseRequest, SOCKET_NAME_MAX } from '../../src/api/protocol.js';
import { VirtTierError } from '../../src/errors.js';

describe('frame decoder', () => {
  test('reassembles frames split at every byte boundary and joined together', () => {
    const a = encodeFrame({ v: 1, id: 1, cmd: 'project.show', args: {} });
    const b = encodeFrame({ v: 1, id: 2, cmd: 'x', args: { n: 'é' } });
    const all = Buffer.concat([a, b]);
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder(1024);
      const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      assert.equal(frames.length, 2);
      assert.equal(JSON.parse(frames[1].toString()).args.n, 'é');
      assert.equal(d.pendingBytes, 0);
    }
  });

  test('refuses a frame announcing more than the limit before buffering it', () => {
    const d = new FrameDecoder(16);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(17);
    assert.throws(() => d.push(head), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_PROTO' && e.allowed === '0..16');
  });

  test('a frame of exactly the limit passes', () => {
    const d = new FrameDecoder(16);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 16]), Buffer.alloc(16, 0x20)]);
    assert.equal(d.push(frame).length, 1);
  });
});

describe('request parsing', () => {
  const bad: Array<[string, string]> = [
    ['not json', 'request'],
    ['[1,2]', 'request'],
    ['{"v":2,"id":1,"cmd":"a"}', 'v'],
    ['{"v":1,"id":-1,"cmd":"a"}', 'id'],
    ['{"v":1,"id":1.5,"cmd":"a"}', 'id'],
    ['{"v":1,"id":1,"cmd":""}', 'cmd'],
    ['{"v":1,"id":1,"cmd":"a","args":[1]}', 'args'],
  ];
  for (const [text, field] of bad) {
    test(`rejects ${text} naming ${field}`, () => {
      assert.throws(() => parseRequest(Buffer.from(text)), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_PROTO' && e.field === field);
    });
  }
  test('accepts a well-formed request and defaults args', () => {
    assert.deepEqual(parseRequest(Buffer.from('{"v":1,"id":7,"cmd":"project.show"}')), { v: 1, id: 7, cmd: 'project.show', args: {} });
  });
});

describe('socket names', () => {
  test('1 and 106 characters pass; 0 and 107 fail naming -s and the range', () => {
    assert.equal(checkSocketName('a'), 'a');
    assert.equal(checkSocketName('x'.repeat(SOCKET_NAME_MAX)).length, 106);
    for (const name of ['', 'x'.repeat(107)]) {
      assert.throws(() => checkSocketName(name), (e: unknown) => e instanceof VirtTierError && e.field === '-s' && e.allowed === '1..106 characters');
    }
  });
});
