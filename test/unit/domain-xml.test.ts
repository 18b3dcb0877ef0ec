/**
 * Domain XML handling: the safe XML reader and the <metadata> policy.
 * Tests named "fixture" read domain XML captured from this host's libvirt
 * 9.0 (test/fixtures/libvirt/); the others build their input.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtTierError } from '../../src/errors.js';
import { parseXml } from '../../src/virt/xml.js';
import {
  applyPolicySettings,
  effectiveSettings,
  NO_POLICY,
  policyFromDomainXml,
  policyFromElementXml,
  policyToXml,
  POLICY_NAMESPACE,
} from '../../src/virt/policy.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/libvirt');
const host = { numaNodes: [0, 1, 2, 3], cpuCount: 2 };
const NS = POLICY_NAMESPACE;
const domainXml = (metadata: string, name = 'vm1'): string =>
  `<domain type='qemu'><name>${name}</name><uuid>3cead87f-c9e1-43c3-8d77-f848bbcff52f</uuid><metadata>${metadata}</metadata><memory>1</memory></domain>`;

function invalid(fn: () => unknown, field: RegExp | string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof VirtTierError, `expected VirtTierError, got ${String(err)}`);
    assert.equal(err.code, 'OPT_INVAL');
    if (typeof field === 'string') assert.equal(err.field, field);
    else assert.match(err.field ?? '', field);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('safe XML reader', () => {
  test('namespaces are resolved by URI whatever the prefix', () => {
    const root = parseXml(`<a xmlns:x="urn:one"><x:b k="v"/><b/></a>`, 'doc');
    assert.equal(root.children[0]!.uri, 'urn:one');
    assert.equal(root.children[0]!.local, 'b');
    assert.equal(root.children[0]!.attrs.k, 'v');
    assert.equal(root.children[1]!.uri, '');
  });

  test('a DOCTYPE (where entity definitions live) is refused', () => {
    const billionLaughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><domain><name>&lol2;</name></domain>`;
    invalid(() => parseXml(billionLaughs, 'domain XML'), 'domain XML', /DOCTYPE/);
  });

  test('undeclared entities are an error, never expanded', () => {
    invalid(() => parseXml(`<domain><name>&xxe;</name></domain>`, 'domain XML'), 'domain XML', /malformed/);
    assert.equal(parseXml(`<a>&lt;&#65;</a>`, 'doc').text, '<A');
  });

  test('size, depth and element-count limits', () => {
    invalid(() => parseXml('<a>' + 'x'.repeat(200) + '</a>', 'doc', { maxBytes: 100, maxDepth: 10, maxElements: 10 }), 'doc', /bytes/);
    const deep = '<a>'.repeat(100) + '</a>'.repeat(100);
    invalid(() => parseXml(deep, 'doc'), 'doc', /nesting deeper than 64/);
    invalid(() => parseXml('<a>' + '<b/>'.repeat(20) + '</a>', 'doc', { maxBytes: 1 << 20, maxDepth: 10, maxElements: 10 }), 'doc', /more than 10 elements/);
  });

  test('malformed XML and trailing garbage are refused', () => {
    invalid(() => parseXml('<a><b></a>', 'doc'), 'doc', /malformed/);
    invalid(() => parseXml('<a/><b/>', 'doc'), 'doc');
    invalid(() => parseXml('', 'doc'), 'doc');
  });
});

describe('policy in domain metadata', () => {
  test('fixture: libvirt 9.0 dumpxml with a cslide policy', () => {
    const xml = readFileSync(path.join(fixtures, 'domain-numa2.xml'), 'utf8');
    const p = policyFromDomainXml(xml, host);
    assert.deepEqual(p, { present: true, enabled: true, engine: 'cslide', settings: { hot_threshold: '2', node_mig_quota: '128' } });
  });

  test('fixture: a domain without a policy is off', () => {
    const xml = readFileSync(path.join(fixtures, 'domain-pcram.xml'), 'utf8');
    assert.deepEqual(policyFromDomainXml(xml, host), NO_POLICY);
  });

  test('matched on the namespace URI, not the prefix', () => {
    const p = policyFromDomainXml(domainXml(`<zz:policy xmlns:zz="${NS}" engine="slide" T="2"/>`), host);
    assert.equal(p.engine, 'slide');
    assert.equal(p.settings.T, '2');
    // same local name in another namespace: not ours
    assert.deepEqual(policyFromDomainXml(domainXml(`<tier:policy xmlns:tier="https://example.com/other" enabled="yes"/>`), host), NO_POLICY);
  });

  test('values go through the config validators; errors name the domain and key', () => {
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}" hot_threshold="-1"/>`, 'web1'), host), 'domain "web1" policy.hot_threshold', /out of range/);
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}" loop="0"/>`), host), 'domain "vm1" policy.loop', /1\.\.120/);
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}" node_pair="0,9"/>`), host), 'domain "vm1" policy.node_pair', /does not exist/);
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}" engine="slide" T="10"/>`), host), 'domain "vm1" policy.T', /3 \* loop/);
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}" engine="thirdparty"/>`), host), 'domain "vm1" policy.engine');
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}" enabled="maybe"/>`), host), 'domain "vm1" policy.enabled');
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}" T="1"/>`), host), 'domain "vm1" policy.T', /unknown key for a cslide policy/);
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}" vm_flags="wr"/>`), host), 'domain "vm1" policy.vm_flags');
  });

  test('hostile metadata: children, two policies, DOCTYPE in the domain', () => {
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}"><loop>3</loop></policy>`), host), 'domain "vm1" policy', /must be empty/);
    invalid(() => policyFromDomainXml(domainXml(`<policy xmlns="${NS}"/><policy xmlns="${NS}"/>`), host), 'domain "vm1" policy', /one <policy>/);
    invalid(() => policyFromDomainXml(`<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/shadow">]>` + domainXml(`<policy xmlns="${NS}" loop="&e;"/>`), host), /XML/, /DOCTYPE/);
  });

  test('--set: apply, remove, validate before anything is written; round trip through the element form', () => {
    const p0 = policyFromDomainXml(domainXml(''), host);
    const p1 = applyPolicySettings('vm1', p0, ['engine=slide', 'T=2', 'loop=4'], host);
    assert.deepEqual(p1, { present: true, enabled: true, engine: 'slide', settings: { T: '2', loop: '4' } });
    const p2 = applyPolicySettings('vm1', p1, ['T=', 'enabled=off'], host);
    assert.deepEqual(p2.settings, { loop: '4' });
    assert.equal(p2.enabled, false);
    invalid(() => applyPolicySettings('vm1', p1, ['T=13'], host), 'domain "vm1" policy.T');
    invalid(() => applyPolicySettings('vm1', p1, ['novalue'], host), '--set');
    const xml = policyToXml(p1);
    assert.deepEqual(policyFromElementXml(xml, host, 'vm1'), p1);
    assert.deepEqual(policyFromDomainXml(domainXml(xml), host), p1);
    assert.equal(policyToXml(p1, false), '<policy enabled="yes" engine="slide" loop="4" T="2"/>');
  });

  test('values are escaped in the element written', () => {
    const p = { present: true, enabled: true, engine: 'cslide' as const, settings: { vm_flags: 'ht" evil="1' } };
    const back = parseXml(policyToXml(p), 'doc');
    assert.equal(back.attrs.vm_flags, 'ht" evil="1');
    assert.equal(back.attrs.evil, undefined);
  });

  test('effective settings show defaults and the domain\'s own keys', () => {
    const rows = effectiveSettings({ present: true, enabled: true, engine: 'cslide', settings: { hot_threshold: '5' } });
    const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
    assert.deepEqual(byKey.hot_threshold, { key: 'hot_threshold', value: '5', source: 'domain' });
    assert.deepEqual(byKey.loop, { key: 'loop', value: '3', source: 'default' });
  });
});
