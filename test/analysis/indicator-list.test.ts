/**
 * Parsing indicator lists: what each kind accepts, how comments and notes read, and that a bad
 * line refuses the whole list naming its file and line.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { AmberError, isAmberError, isTransient } from '../../src/core/amber-error.js';
import { parseIndicatorList, type IndicatorList, type ListKind } from '../../src/analysis/lists/indicator-list.js';
import { netContains, parseEndpoint, parseIp } from '../../src/analysis/lists/ip-address.js';
import { hostNamePattern, listedSuffixes } from '../../src/analysis/lists/domain-pattern.js';

const parse = (kind: ListKind, text: string, path = `/lists/${kind}.txt`) => parseIndicatorList({ name: `my-${kind}`, kind, path }, Buffer.from(text));

function refusal(kind: ListKind, text: string): AmberError {
  try {
    parse(kind, text);
  } catch (e) {
    if (isAmberError(e, 'INDICATOR_LIST_INVALID')) return e;
    throw e;
  }
  throw new Error(`accepted: ${text}`);
}

const addresses = (l: IndicatorList) => (l.kind === 'address' ? l.addresses : []);

t.test('a hash list takes one SHA-256 a line, any case, with # comments, notes and blank lines', async (t) => {
  const a = createHash('sha256').update('a').digest('hex');
  const b = createHash('sha256').update('b').digest('hex');
  const list = parse('sha256', `# dropped by the campaign\n\n${a.toUpperCase()}\r\n  ${b}   # the miner\n`);
  t.equal(list.kind, 'sha256');
  if (list.kind !== 'sha256') return;
  t.same([...list.hashes.keys()], [a, b], 'lower-cased, in file order');
  t.same(list.hashes.get(a), { entry: a.toUpperCase(), line: 3 });
  t.same(list.hashes.get(b), { entry: b, line: 4, note: 'the miner' });
  t.equal(list.severity, 'high', 'a team lists what it wants to hear about');
  const twice = parse('sha256', `\uFEFF${a}\n${a.toUpperCase()} # again\n`);
  t.same(
    twice.kind === 'sha256' ? [...twice.hashes.values()] : [],
    [{ entry: a, line: 1 }],
    'a leading BOM is no part of the entry; a repeat is one entry, its first line',
  );
  t.equal(list.sha256, createHash('sha256').update(`# dropped by the campaign\n\n${a.toUpperCase()}\r\n  ${b}   # the miner\n`).digest('hex'));
});

t.test('a bad line refuses the list with its file and line, a stable code that is not transient', async (t) => {
  const e = refusal('sha256', `# ok\n${'a'.repeat(64)}\n\n${'a'.repeat(63)}\n`);
  t.match(e.details, { list: 'my-sha256', file: '/lists/sha256.txt', line: 4, problem: /not a SHA-256/ });
  t.match(e.message, /file=\/lists\/sha256\.txt line=4/);
  t.equal(isTransient('INDICATOR_LIST_INVALID'), false, 'a broken list does not pass by itself');
  t.match(refusal('sha256', `${'a'.repeat(64)}  dropper`).details, { line: 1, problem: /one entry a line/ }, 'a note needs a #');
  t.match(refusal('domain', `${'a'.repeat(2000)}.com`).details, { problem: /longer than 1024/ });
});

t.test('addresses: IPv4 and IPv6, CIDR blocks, ports (bracketed for IPv6)', async (t) => {
  const list = parse(
    'address',
    [
      '203.0.113.7',
      '198.51.100.0/24',
      '203.0.113.7:4444',
      '[2001:db8::1]:443',
      '2001:db8::/32',
      '198.51.100.0/24:443',
      '[2001:db8::/48]:22',
      '2001:db8::1:443',
    ].join('\n'),
  );
  const got = addresses(list).map((e) => ({ entry: e.entry, family: e.net.family, prefix: e.net.prefix, port: e.port }));
  t.same(got, [
    { entry: '203.0.113.7', family: 4, prefix: 32, port: undefined },
    { entry: '198.51.100.0/24', family: 4, prefix: 24, port: undefined },
    { entry: '203.0.113.7:4444', family: 4, prefix: 32, port: 4444 },
    { entry: '[2001:db8::1]:443', family: 6, prefix: 128, port: 443 },
    { entry: '2001:db8::/32', family: 6, prefix: 32, port: undefined },
    { entry: '198.51.100.0/24:443', family: 4, prefix: 24, port: 443 },
    { entry: '[2001:db8::/48]:22', family: 6, prefix: 48, port: 22 },
    // without brackets the last group is part of the address, never a port
    { entry: '2001:db8::1:443', family: 6, prefix: 128, port: undefined },
  ]);
});

t.test('an IPv4-mapped IPv6 entry is the IPv4 address it carries', async (t) => {
  const [one, block] = addresses(parse('address', '::ffff:192.0.2.1\n::ffff:127.0.0.0/104\n'));
  t.same({ family: one?.net.family, prefix: one?.net.prefix }, { family: 4, prefix: 32 });
  t.same({ family: block?.net.family, prefix: block?.net.prefix }, { family: 4, prefix: 8 });
  t.ok(block && netContains(block.net, parseIp('127.0.0.1')!));
  t.match(refusal('address', '::ffff:0:0/90').details, { problem: /not an IP address or CIDR/ }, 'a block reaching past the mapped range');
});

t.test('address lines that are not addresses are refused with the reason', async (t) => {
  const cases: [string, RegExp][] = [
    ['999.1.1.1', /not an IP address/],
    ['10.0.0.1/8', /bits set past its \/8/],
    ['1.2.3.4:0', /port must be 1–65535/],
    ['1.2.3.4:70000', /port must be 1–65535/],
    ['2001:db8::/129', /not an IP address/],
    ['example.com', /not an IP address/],
    ['[2001:db8::1]', /^$/],
    ['fe80::1%eth0', /not an IP address/],
  ];
  for (const [line, problem] of cases) {
    if (problem.source === '^$') {
      t.equal(addresses(parse('address', line)).length, 1, `${line} is an address without a port`);
      continue;
    }
    t.match(refusal('address', `# c2\n${line}`).details, { line: 2, problem }, line);
  }
});

t.test('socket ends parse as the inspection writes them; a mapped peer is IPv4', async (t) => {
  t.same(parseEndpoint('[::ffff:127.0.0.1]:4444'), { ip: parseIp('127.0.0.1'), port: 4444 });
  t.same(parseEndpoint('[::1]:80')?.ip.family, 6);
  t.equal(parseEndpoint('/run/app.sock'), undefined);
  const [v6] = addresses(parse('address', '2001:db8::/32'));
  t.ok(v6 && netContains(v6.net, parseIp('2001:db8:ffff::9')!));
  t.notOk(v6 && netContains(v6.net, parseIp('2001:db9::1')!));
  t.notOk(v6 && netContains(v6.net, parseIp('32.1.13.184')!), 'families never mix');
});

t.test('domains: lower-cased, a trailing dot dropped; wildcards, single labels and non-ASCII refused', async (t) => {
  const list = parse('domain', 'Pool.Example.\nc2.evil-corp.net # seen 2026-11\n_dmarc.example.org\n');
  t.same(list.kind === 'domain' ? [...list.domains.keys()] : [], ['pool.example', 'c2.evil-corp.net', '_dmarc.example.org']);
  t.match(refusal('domain', '*.example.com').details, { problem: /write example\.com — a listed domain matches its subdomains/ });
  t.match(refusal('domain', 'localhost').details, { problem: /one label/ });
  t.match(refusal('domain', 'bücher.example').details, { problem: /xn-- form/ });
  t.match(refusal('domain', '-bad.example').details, { problem: /not a DNS label \('-bad'\)/ });
  t.match(refusal('domain', 'a..example').details, { problem: /not a DNS label/ });
});

t.test('listed domains are found on word boundaries, subdomains included, in any case', async (t) => {
  const listed = new Set(['example.com', 'pool.example', 'pool.evil']);
  const found = (text: string) => {
    const { re } = hostNamePattern() as { re: RegExp };
    return [...text.matchAll(re)].flatMap((m) => listedSuffixes(m[0], listed));
  };
  t.same(found('GET http://example.com/x'), ['example.com']);
  t.same(found('EXAMPLE.COM'), ['example.com'], 'case is ignored');
  t.same(found('notexample.com x-example.com _example.com'), [], 'a longer label is another name');
  t.same(found('cdn.example.com a.b.pool.evil'), ['example.com', 'pool.evil'], 'a subdomain is under the listed name');
  t.same(found('example.com.evil.net example.community'), [], 'a name does not run on into another');
  t.same(found('example.com. example.com:443 "example.com"'), ['example.com', 'example.com', 'example.com']);
  t.same(found('stratum+tcp://pool.example:3333 pool.evil\x00'), ['pool.example', 'pool.evil']);
  t.same(found(`${'a'.repeat(63)}.example.com`), ['example.com']);
  t.same(found(`${'a'.repeat(64)}.example.com`), ['example.com'], 'after a dot, even past a label longer than DNS allows');
  t.same(found(`x.${'b'.repeat(64)}`), [], 'a run whose last label is too long is no name');
  t.same(listedSuffixes('com', new Set(['com'])), [], 'a single label is never a match');
  t.same(
    listedSuffixes('EU.Pool.Example', new Set(['pool.example', 'eu.pool.example'])),
    ['eu.pool.example', 'pool.example'],
    'every listed name it is under, longest first',
  );
});
