import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import proxyAddr from '@fastify/proxy-addr';

/**
 * One address as every limit counts it, or null when `text` is no address. Proxies write the
 * same client in several ways, and each would otherwise count as a new address: `ip:port`
 * (Azure Application Gateway's default), `[v6]` and `[v6]:port`, `::ffff:a.b.c.d` (an IPv4
 * client of a dual-stack socket), upper-case or uncompressed IPv6. Those are reduced to one
 * spelling; an IPv4 with leading zeros (`09.9.9.9`, octal to some parsers), a zone id or
 * anything else is refused.
 */
export function normaliseAddress(text: string): string | null {
  let address = text.trim();
  const bracketed = /^\[([^\]]*)\](?::\d{1,5})?$/.exec(address);
  if (bracketed) address = bracketed[1];
  else if (/^[^:]+:\d{1,5}$/.test(address)) address = address.slice(0, address.lastIndexOf(':'));
  if (isIPv4(address)) return address;
  if (!isIPv6(address) || address.includes('%')) return null;
  // The URL host parser writes IPv6 in RFC 5952's canonical form (lower case, `::` compressed).
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

export type AddressResolver = (request: IncomingMessage) => string;

/**
 * The client address of a request. Without TRUSTED_PROXIES, the socket's peer. With them,
 * X-Forwarded-For is walked from the right (the entry the nearest proxy wrote) past trusted
 * proxies, and the first untrusted entry is the client. An entry on that walk that is no
 * address makes the header untrusted: the socket's peer is the client then. Entries left of the
 * client's are whatever the client sent and are never read.
 */
export function clientAddressResolver(trustedProxies: string[]): AddressResolver {
  if (trustedProxies.length === 0) return (request) => socketAddress(request);
  const trust = proxyAddr.compile(trustedProxies);
  return (request) => {
    const peer = socketAddress(request);
    if (!trust(peer, 0)) return peer;
    const header = request.headers['x-forwarded-for'];
    const entries = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .reverse();
    let client = peer;
    for (const [hop, entry] of entries.entries()) {
      if (entry.trim() === '' && entries.length === 1) return peer;
      const address = normaliseAddress(entry);
      if (address === null) return peer;
      client = address;
      if (!trust(address, hop + 1)) return address;
    }
    return client;
  };
}

const PEER = Symbol('broker.normalisedPeer');

/** The socket's peer, normalised once per connection (a keep-alive one carries many requests). */
function socketAddress(request: IncomingMessage): string {
  const socket = request.socket as IncomingMessage['socket'] & { [PEER]?: string };
  let peer = socket[PEER];
  if (peer === undefined) {
    const raw = socket.remoteAddress ?? '';
    peer = normaliseAddress(raw) ?? raw;
    // Known only once connected: a socket without its address yet is asked again next time.
    if (raw !== '') socket[PEER] = peer;
  }
  return peer;
}
