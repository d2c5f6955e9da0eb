import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type tls from 'node:tls';
import { TlsSessionCache, upstreamSessionKey } from './session-cache.ts';

/** Enough of a TLSSocket for track(): events, `authorized`, isSessionReused(). */
function fakeSocket(authorized: boolean, reused = false): tls.TLSSocket {
  return Object.assign(new EventEmitter(), { authorized, isSessionReused: () => reused }) as unknown as tls.TLSSocket;
}

test('keys differ by checked name, SNI and address', () => {
  const keys = new Set([
    upstreamSessionKey('a.test', 'a.test', 'a.test', 443),
    upstreamSessionKey('b.test', 'b.test', 'a.test', 443),
    upstreamSessionKey('a.test', undefined, 'a.test', 443),
    upstreamSessionKey('a.test', 'a.test', '10.0.0.1', 443),
    upstreamSessionKey('a.test', 'a.test', 'a.test', 8443),
  ]);
  assert.equal(keys.size, 5);
});

test('bounded: the least recently stored key goes first', () => {
  const c = new TlsSessionCache({ max: 2 });
  c.set('a', Buffer.from('1'));
  c.set('b', Buffer.from('2'));
  c.set('a', Buffer.from('3'));
  c.set('c', Buffer.from('4'));
  assert.equal(c.get('b'), undefined);
  assert.equal(c.get('a')?.toString(), '3');
  assert.equal(c.size, 2);
});

test('only sessions of a verified connection are kept (TLS 1.2 ones arrive before verification)', () => {
  const c = new TlsSessionCache();
  const bad = fakeSocket(false);
  c.track(bad, 'k', false);
  bad.emit('session', Buffer.from('early'));
  bad.emit('secureConnect');
  bad.emit('session', Buffer.from('late'));
  assert.equal(c.get('k'), undefined, 'an unverified peer never stores a session');

  const good = fakeSocket(true);
  c.track(good, 'k', false);
  good.emit('session', Buffer.from('early'));
  assert.equal(c.get('k'), undefined, 'not before the handshake is known to be verified');
  good.emit('secureConnect');
  assert.equal(c.get('k')?.toString(), 'early');
  good.emit('session', Buffer.from('ticket'));
  assert.equal(c.get('k')?.toString(), 'ticket');
});

test('--insecure-upstream keeps sessions of unverified peers; a session the server declined is dropped', () => {
  const c = new TlsSessionCache();
  const s = fakeSocket(false);
  c.track(s, 'k', false, true);
  s.emit('secureConnect');
  s.emit('session', Buffer.from('t'));
  assert.equal(c.get('k')?.toString(), 't');

  const declined = fakeSocket(true, false);
  c.track(declined, 'k', true);
  declined.emit('secureConnect');
  assert.equal(c.get('k'), undefined);
  const resumed = fakeSocket(true, true);
  c.set('k', Buffer.from('x'));
  c.track(resumed, 'k', true);
  resumed.emit('secureConnect');
  assert.equal(c.stats.resumed, 1);
  assert.equal(c.get('k')?.toString(), 'x');
});
