import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ConfigError, ConfigErrorCode } from './errors.js';

/** `::ffff:192.0.2.1` (an IPv4 client on a dual-stack socket) -> `192.0.2.1`. */
const unmapped = (address: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address);

/**
 * `--trusted-proxy`: the addresses (`10.0.0.1`, `::1`) and networks (`10.0.0.0/8`, `fd00::/8`)
 * whose X-Forwarded-For / Forwarded headers name the client. Returns the test Fastify's
 * `trustProxy` takes: `(address, hop) => trusted`, applied hop by hop from the socket's
 * address inwards, so a header from anyone else is never believed and a client cannot
 * prepend addresses of its own choosing past the first untrusted hop.
 */
export function trustedProxies(specs: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const spec of specs) {
    const [address, bits, extra] = spec.trim().split('/');
    const family = isIPv4(address!) ? 'ipv4' : isIPv6(address!) ? 'ipv6' : undefined;
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!family || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
      throw new ConfigError(ConfigErrorCode.OPTIONS_INVALID, `--trusted-proxy: expected an IP address or CIDR network, got ${JSON.stringify(spec)}`, {
        hint: 'E.g. --trusted-proxy 127.0.0.1 --trusted-proxy 10.0.0.0/8 --trusted-proxy fd00::/8',
      });
    }
    list.addSubnet(unmapped(address!), prefix, family);
  }
  return (address) => {
    const plain = unmapped(address);
    const family = isIPv4(plain) ? 'ipv4' : isIPv6(plain) ? 'ipv6' : undefined;
    return family !== undefined && list.check(plain, family);
  };
}

/**
 * The `for=` addresses of an RFC 7239 Forwarded header, in order (`for="[2001:db8::1]:4711"`
 * -> `2001:db8::1`); obfuscated (`_hidden`) and `unknown` nodes end the list, since nothing
 * before them can be placed.
 */
export function forwardedFor(header: string): string[] {
  const out: string[] = [];
  for (const element of header.split(',')) {
    const pair = element.split(';').map((p) => p.trim()).find((p) => /^for=/i.test(p));
    if (!pair) continue;
    let value = pair.slice(4).trim().replace(/^"(.*)"$/, '$1');
    const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
    if (v6) value = v6[1]!;
    else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
    out.push(value);
  }
  return out;
}

/**
 * For requests whose socket address is a trusted proxy and which carry only a `Forwarded`
 * header (no X-Forwarded-For), its `for=` list is given to Fastify as X-Forwarded-For, so
 * `request.ip` follows either header the same way. Runs as the first onRequest hook.
 */
export function registerForwarded(app: FastifyInstance, trusted: (address: string) => boolean): void {
  app.addHook('onRequest', async (request) => {
    const headers = request.raw.headers;
    const forwarded = headers.forwarded;
    if (forwarded === undefined || headers['x-forwarded-for'] !== undefined) return;
    const peer = request.raw.socket.remoteAddress;
    if (peer === undefined || !trusted(peer)) return;
    const chain = forwardedFor(Array.isArray(forwarded) ? forwarded.join(',') : forwarded);
    if (chain.length > 0) headers['x-forwarded-for'] = chain.join(', ');
  });
}
