import type { IncomingMessage } from 'node:http';
import { clientAddressResolver, normaliseAddress } from '../../src/http/client-address';

describe('normaliseAddress', () => {
  it.each([
    ['9.9.9.9', '9.9.9.9'],
    [' 9.9.9.9 ', '9.9.9.9'],
    ['9.9.9.9:4711', '9.9.9.9'],
    ['[9.9.9.9]', '9.9.9.9'],
    ['::ffff:9.9.9.9', '9.9.9.9'],
    ['::FFFF:9.9.9.9', '9.9.9.9'],
    ['::ffff:909:909', '9.9.9.9'],
    ['[::ffff:9.9.9.9]:80', '9.9.9.9'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:8443', '2001:db8::1'],
    ['09.9.9.9', null],
    ['9.9.9.09', null],
    ['fe80::1%eth0', null],
    ['unknown', null],
    ['', null],
    ['9.9.9.9:99999999', null],
    ['2001:db8::1:80', '2001:db8::1:80'],
  ])('%j → %j', (text, expected) => {
    expect(normaliseAddress(text)).toBe(expected);
  });
});

describe('clientAddressResolver', () => {
  const request = (peer: string, forwardedFor?: string) =>
    ({
      socket: { remoteAddress: peer },
      headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
    }) as unknown as IncomingMessage;

  it('is the socket peer, normalised, without TRUSTED_PROXIES', () => {
    const resolve = clientAddressResolver([]);
    expect(resolve(request('::ffff:127.0.0.1', '9.9.9.9'))).toBe('127.0.0.1');
  });

  it('walks X-Forwarded-For from the right past trusted proxies, one spelling per address', () => {
    const resolve = clientAddressResolver(['10.0.0.0/8']);
    for (const written of ['9.9.9.9', '9.9.9.9:1234', '::ffff:9.9.9.9', '[::ffff:9.9.9.9]:1'])
      expect(resolve(request('10.0.0.1', `${written}, 10.0.0.2`))).toBe('9.9.9.9');
    // Entries left of the client's are the client's own words: never read.
    expect(resolve(request('10.0.0.1', 'garbage, 9.9.9.9'))).toBe('9.9.9.9');
    // Every entry trusted: the leftmost.
    expect(resolve(request('10.0.0.1', '10.0.0.3, 10.0.0.2'))).toBe('10.0.0.3');
  });

  it('takes the socket peer when an entry on the walk is no address', () => {
    const resolve = clientAddressResolver(['10.0.0.0/8']);
    expect(resolve(request('10.0.0.1', '09.9.9.9'))).toBe('10.0.0.1');
    expect(resolve(request('10.0.0.1', '9.9.9.9, nonsense'))).toBe('10.0.0.1');
    expect(resolve(request('10.0.0.1'))).toBe('10.0.0.1');
  });

  it('ignores the header from a peer that is not a trusted proxy', () => {
    const resolve = clientAddressResolver(['10.0.0.0/8']);
    expect(resolve(request('203.0.113.5', '9.9.9.9'))).toBe('203.0.113.5');
  });
});
