/**
 * Token classifier, redaction and descriptions. Every token here is synthetic.
 */
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import t from 'tap';
import {
  classifyToken,
  crc32,
  crc32Base36,
  describeToken,
  isGitlabToken,
  isPlaceholderLike,
  isPrefixedToken,
  isRealToken,
  OTHER_GITLAB_PREFIXES,
  redactToken,
} from '../../src/tokens/index.js';

// ---------------------------------------------------------------------------------------
// helpers

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const HEX = '0123456789abcdef';

/** deterministic pseudo-random body, so failures reproduce */
function body(n: number, seed: number, alphabet = ALPHABET): string {
  let x = (Math.imul(seed + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0 || 1;
  let out = '';
  for (let i = 0; i < n; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += alphabet[x % alphabet.length];
  }
  return out;
}

// Node ≥ 20.15 has zlib.crc32; with it the generator below does not depend on the code under test.
const zlibCrc32 = (zlib as unknown as { crc32?: (s: string) => number }).crc32;
function referenceCrc(s: string): number {
  return zlibCrc32 ? zlibCrc32(s) : crc32(s);
}

/**
 * A routable token laid out as gitlab `lib/authn/token_field/generator/routable_token.rb` does:
 * v1 = prefix + b64(random16 + payload + [payload.size]) + ".01." + len36(2) + crc36(7),
 * legacy = prefix + b64(payload + random16 + [16]) + "." + len36(2) + crc36(7).
 */
function routable(
  prefix: string,
  opts: { v1?: boolean; payload?: string; random?: Buffer } = {},
): string {
  const v1 = opts.v1 ?? true;
  const payload = Buffer.from(opts.payload ?? 'c:1\no:2s\nt:1');
  const random = opts.random ?? randomBytes(16);
  const raw = v1
    ? Buffer.concat([random, payload, Buffer.from([payload.length])])
    : Buffer.concat([payload, random, Buffer.from([random.length])]);
  const b64 = raw.toString('base64url');
  const encoded = `${prefix}${b64}.${v1 ? '01.' : ''}${b64.length.toString(36).padStart(2, '0')}`;
  return encoded + referenceCrc(encoded).toString(36).padStart(7, '0');
}

/** change one character of the CRC part (last 7) to another base-36 digit */
function breakCrc(token: string): string {
  const i = token.length - 3;
  const c = token[i] === 'a' ? 'b' : 'a';
  return token.slice(0, i) + c + token.slice(i + 1);
}

// ---------------------------------------------------------------------------------------

t.test('crc32 matches the IEEE check value and zlib', async (t) => {
  t.equal(crc32('123456789'), 0xcbf43926);
  t.equal(crc32(''), 0);
  t.equal(crc32Base36('123456789'), (0xcbf43926).toString(36).padStart(7, '0'));
  t.equal(crc32Base36('123456789').length, 7);
  if (!zlibCrc32) {
    t.fail('node:zlib has crc32 on every supported Node (>= 24)');
    return;
  }
  for (let i = 0; i < 50; i++) {
    const s = body(1 + i * 7, i);
    t.equal(crc32(s), zlibCrc32(s), `crc32 of ${s.length} chars`);
  }
});

type Expect = Record<string, unknown>;

const B20 = body(20, 1);
const B20b = body(20, 2);

const table: Array<[name: string, value: string, expect: Expect]> = [
  ['empty', '', { kind: 'empty' }],
  ['registration GR1348941 + 20', `GR1348941${B20}`, { kind: 'registration', form: 'prefixed' }],
  ['registration, other rotation date GR + 7 hex', `GR0A1b2C3${B20}`, { kind: 'registration' }],
  ['legacy 20 chars', '-sX9bT3kQ7pL2mN8vR4w', { kind: 'legacy-ambiguous', hex: false }],
  ['legacy 20 hex', body(20, 3, HEX), { kind: 'legacy-ambiguous', hex: true }],
  [
    'legacy 20 starting with t1_ is not a scoped token',
    `t1_${body(17, 4)}`,
    { kind: 'legacy-ambiguous' },
  ],
  ['legacy 20 starting with GR+7hex', `GR1a2b3c4${body(11, 5)}`, { kind: 'legacy-ambiguous' }],
  ['legacy 30 hex (auth)', body(30, 6, HEX), { kind: 'auth', form: 'legacy-hex30' }],
  ['glrt- + 20', `glrt-${B20}`, { kind: 'auth', form: 'glrt', scope: undefined }],
  ['glrt-t1_', `glrt-t1_${B20}`, { kind: 'auth', form: 'glrt-scoped', scope: 'instance' }],
  ['glrt-t2_', `glrt-t2_${B20}`, { kind: 'auth', form: 'glrt-scoped', scope: 'group' }],
  ['glrt-t3_', `glrt-t3_${B20}`, { kind: 'auth', form: 'glrt-scoped', scope: 'project' }],
  ['t1_', `t1_${B20}`, { kind: 'auth', form: 'scoped', scope: 'instance' }],
  ['t2_', `t2_${B20}`, { kind: 'auth', form: 'scoped', scope: 'group' }],
  ['t3_', `t3_${B20}`, { kind: 'auth', form: 'scoped', scope: 'project' }],
  ['glrtr-', `glrtr-${B20}`, { kind: 'auth', form: 'glrtr' }],
  [
    'glrt- with a 24-char body (lenient length)',
    `glrt-${body(24, 7)}`,
    { kind: 'auth', form: 'glrt' },
  ],
  ['instance-prefixed glrt-', `SIE-glrt-${B20}`, { kind: 'auth', form: 'instance-prefixed' }],
  [
    'instance-prefixed glrt-t3_',
    `my-corp-glrt-t3_${B20}`,
    { kind: 'auth', form: 'instance-prefixed', scope: 'project' },
  ],
  ['instance-prefixed glpat-', `SIE-glpat-${B20}`, { kind: 'other-gitlab', prefix: 'glpat-' }],
  ['env ${VAR}', '${RUNNER_TOKEN}', { kind: 'env-reference', variable: 'RUNNER_TOKEN' }],
  ['env $VAR', '$CI_SERVER_TOKEN', { kind: 'env-reference', variable: 'CI_SERVER_TOKEN' }],
  ['env $(VAR)', '$(RUNNER_TOKEN)', { kind: 'env-reference', variable: 'RUNNER_TOKEN' }],
  ['truncated glrt-', 'glrt-abc', { kind: 'unknown', looksSecret: false }],
  ['short word', 'abc', { kind: 'unknown', looksSecret: false }],
  ['long random unknown', `zz${body(38, 8)}`, { kind: 'unknown', looksSecret: true }],
  [
    'quoted real token is not a placeholder',
    `"glrt-${B20}"`,
    { kind: 'unknown', looksSecret: true },
  ],
  [
    'bracketed real token is not a placeholder',
    `<glrt-${B20}>`,
    { kind: 'unknown', looksSecret: true },
  ],
];

for (const [prefix, name] of OTHER_GITLAB_PREFIXES) {
  table.push([
    `other GitLab ${prefix}`,
    `${prefix}${B20b}`,
    { kind: 'other-gitlab', prefix, name },
  ]);
}

t.test('classifies every kind', async (t) => {
  for (const [name, value, expect] of table) {
    const c = classifyToken(value);
    t.match(c.cls, expect, name);
    for (const [k, v] of Object.entries(expect)) {
      if (v === undefined)
        t.notOk(
          k in c.cls && (c.cls as Record<string, unknown>)[k] !== undefined,
          `${name}: no ${k}`,
        );
    }
    t.equal(c.surroundingWhitespace, false, `${name}: no surrounding whitespace`);
    t.equal(c.innerWhitespace, false, `${name}: no inner whitespace`);
    t.equal(c.value, value, `${name}: value kept`);
  }
});

t.test('other GitLab tokens get a human name', async (t) => {
  t.match(classifyToken(`glpat-${B20}`).cls, {
    kind: 'other-gitlab',
    name: 'personal access token',
  });
  t.match(classifyToken(`glcbt-${B20}`).cls, { kind: 'other-gitlab', name: 'CI/CD job token' });
  t.match(
    classifyToken(`glrtr-${B20}`).cls,
    { kind: 'auth' },
    'glrtr- is a runner token, not "other"',
  );
});

t.test('routable tokens: CRC checked, both layouts, scope from the prefix', async (t) => {
  // fixtures computed with Python zlib.crc32 from the same layout, independent of this code
  const fixed = [
    ['glrt-AAECAwQFBgcICQoLDA0OD2M6MQpvOjJzCnQ6MQw.01.130fz2qmf', 'routable', undefined],
    ['glrt-YzoxCm86MnMKdDoxAAECAwQFBgcICQoLDA0ODxA.131dei9co', 'routable-legacy', undefined],
    ['glrt-t2_AAECAwQFBgcICQoLDA0OD2M6MQpvOjJzCnQ6MQw.01.1315x7sng', 'routable', 'group'],
  ] as const;
  for (const [tok, form, scope] of fixed) {
    t.match(
      classifyToken(tok).cls,
      { kind: 'auth', form, crcValid: true, scope },
      `fixture ${form}`,
    );
    t.match(
      classifyToken(breakCrc(tok)).cls,
      { kind: 'auth', form, crcValid: false },
      `fixture ${form}, broken CRC`,
    );
  }

  for (let i = 0; i < 40; i++) {
    const v1 = i % 2 === 0;
    const payload = `c:${i.toString(36)}\no:${(i * 977).toString(36)}\nu:${body(1 + (i % 30), i, 'abcdef0123')}`;
    const prefixes = ['glrt-', 'glrtr-', 'glrt-t1_', 'glrt-t3_'];
    const prefix = prefixes[i % prefixes.length]!;
    const tok = routable(prefix, { v1, payload });
    const expectScope = prefix.endsWith('t1_')
      ? 'instance'
      : prefix.endsWith('t3_')
        ? 'project'
        : undefined;
    const c = classifyToken(tok);
    t.match(
      c.cls,
      {
        kind: 'auth',
        form: v1 ? 'routable' : 'routable-legacy',
        crcValid: true,
        scope: expectScope,
      },
      `generated ${prefix} v1=${v1}`,
    );
    t.match(
      classifyToken(breakCrc(tok)).cls,
      { kind: 'auth', crcValid: false },
      `generated ${prefix}, broken CRC`,
    );
    t.match(classifyToken(tok.slice(0, -1)).cls, { kind: 'auth' }, 'cut short still says auth');
    t.notOk(
      classifyToken(tok.slice(0, 12) + tok.slice(13)).cls.kind === 'auth' &&
        (classifyToken(tok.slice(0, 12) + tok.slice(13)).cls as { crcValid?: boolean }).crcValid ===
          true,
      'a dropped payload char fails the CRC',
    );
  }

  const sie = routable('SIE-glrt-');
  t.match(
    classifyToken(sie).cls,
    { kind: 'auth', form: 'instance-prefixed', crcValid: true },
    'instance prefix is inside the CRC',
  );
  t.match(classifyToken(breakCrc(sie)).cls, {
    kind: 'auth',
    form: 'instance-prefixed',
    crcValid: false,
  });
  // a payload that starts with "t1_" by chance: the encoded length says there is no scope
  const b64 = 't1_' + body(40, 9);
  const enc = `glrt-${b64}.01.${b64.length.toString(36).padStart(2, '0')}`;
  const chance = enc + referenceCrc(enc).toString(36).padStart(7, '0');
  t.match(classifyToken(chance).cls, {
    kind: 'auth',
    form: 'routable',
    crcValid: true,
    scope: undefined,
  });
  t.equal(redactToken(chance).startsWith('glrt-…'), true, 'payload bytes are not shown as prefix');

  // the routable glpat- is another token kind, not a runner token
  t.match(classifyToken(routable('glpat-')).cls, { kind: 'other-gitlab', prefix: 'glpat-' });
});

t.test('placeholders from the corpus', async (t) => {
  const cases: Array<[string, 'registration' | 'auth' | 'unknown']> = [
    ['TOKEN', 'unknown'],
    ['token', 'unknown'],
    ['xxx', 'unknown'],
    ['XXXX', 'unknown'],
    ['****', 'unknown'],
    ['...', 'unknown'],
    ['<token>', 'unknown'],
    ["<runner's token>", 'auth'],
    ['<runner token>', 'auth'],
    ['<auto-generated-during-registration>', 'auth'],
    ['[TOKEN]', 'unknown'],
    ['{TOKEN-Runner}', 'auth'],
    ['YOUR_REGISTRATION_TOKEN', 'registration'],
    ['<registration token>', 'registration'],
    ['<your-gitlab-runner-registration-token>', 'registration'],
    ['YOUR_RUNNER_TOKEN', 'auth'],
    ['REPLACE_ME', 'unknown'],
    ['changeme', 'unknown'],
    ['FAKE-TOKEN', 'unknown'],
    ['glrt-XXXX', 'auth'],
    ['glrt-xxxxxxxxxxxxxxxxxxxx', 'auth'],
    ['glrt-', 'auth'],
    ['GR1348941XXXXXXXXXXXXXXXXXXXX', 'registration'],
    ['GR1348941', 'registration'],
    ['gitlabsupersecrettoken', 'unknown'],
    ['xxxxxxxxxxxxxxxxxxxx', 'unknown'],
    ['YOUR_RUNNER_TOKEN_XX', 'auth'],
    ['{{ .Values.runnerToken }}', 'auth'],
    ['{{ .Values.runnerRegistrationToken }}', 'registration'],
    ['__TOKEN__', 'unknown'],
    ['null', 'unknown'],
    // issue 12: the verb names how to get a runner token, not a registration token
    ['your runner token. Run gitlab-runner register', 'auth'],
    ['<paste your runner token here, see gitlab-runner register>', 'auth'],
    ['REGISTER_TOKEN', 'registration'],
    ['<register>', 'registration'],
  ];
  for (const [value, intent] of cases) {
    t.same(classifyToken(value).cls, { kind: 'placeholder', intent }, value);
  }
});

t.test('real-shaped values are never placeholders', async (t) => {
  const real = [
    '-sX9bT3kQ7pL2mN8vR4w',
    `GR1348941${B20}`,
    `glrt-${B20}`,
    `glrt-t2_${B20}`,
    `t1_${B20}`,
    `glrtr-${B20}`,
    body(30, 10, HEX),
    body(20, 11, HEX),
  ];
  for (const v of real) t.not(classifyToken(v).cls.kind, 'placeholder', v);
  // many random 20-char legacy tokens: none may be mistaken for a placeholder
  let misses = 0;
  for (let i = 0; i < 5000; i++)
    if (classifyToken(body(20, 1000 + i)).cls.kind !== 'legacy-ambiguous') misses++;
  t.equal(misses, 0, '5000 random 20-char tokens all legacy-ambiguous');
});

t.test('whitespace around and inside', async (t) => {
  const tok = `glrt-${B20}`;
  const cases: Array<[string, string, boolean, boolean, RegExp]> = [
    ['trailing newline', `${tok}\n`, true, false, /trailing newline/],
    ['CRLF', `${tok}\r\n`, true, false, /carriage return.*newline/],
    ['leading space', ` ${tok}`, true, false, /leading space/],
    ['tab', `\t${tok}`, true, false, /leading tab/],
    ['NBSP', `${tok}\u00a0`, true, false, /non-breaking space/],
    ['BOM', `\ufeff${tok}`, true, false, /byte-order mark/],
    [
      'zero-width space inside',
      `glrt-${B20.slice(0, 10)}\u200b${B20.slice(10)}`,
      false,
      true,
      /zero-width space \(U\+200B\) inside \(1 character\)/,
    ],
    [
      'newline inside',
      `glrt-${B20.slice(0, 10)}\n${B20.slice(10)}`,
      false,
      true,
      /newline.*inside/,
    ],
    [
      'control char inside',
      `glrt-${B20.slice(0, 10)}\u0007${B20.slice(10)}`,
      false,
      true,
      /U\+0007 inside/,
    ],
    [
      'both',
      ` glrt-${B20.slice(0, 10)}\u200d${B20.slice(10)}\r\n`,
      true,
      true,
      /leading space; trailing .*; zero-width joiner/,
    ],
  ];
  for (const [name, raw, surrounding, inner, detail] of cases) {
    const c = classifyToken(raw);
    t.match(c.cls, { kind: 'auth', form: 'glrt' }, `${name}: still classified`);
    t.equal(c.surroundingWhitespace, surrounding, `${name}: surrounding`);
    t.equal(c.innerWhitespace, inner, `${name}: inner`);
    t.match(c.whitespaceDetail, detail, `${name}: detail`);
    t.notOk(c.redacted.includes(B20), `${name}: redacted`);
    if (!inner) t.equal(c.value, tok, `${name}: value trimmed`);
  }
  t.equal(classifyToken(tok).whitespaceDetail, undefined, 'no detail when clean');
  const spaces = classifyToken(' \n\t ');
  t.same(spaces.cls, { kind: 'empty' }, 'only whitespace is empty');
  t.equal(spaces.surroundingWhitespace, true);
  t.match(
    classifyToken(`GR1348941${B20}\n`).cls,
    { kind: 'registration' },
    'registration with newline',
  );
});

t.test('very long values stay linear and classify sanely', async (t) => {
  const n = 100_000;
  const long: Array<[string, string]> = [
    ['x * 100k', 'x'.repeat(n)],
    ['glrt- + 100k', `glrt-${'a'.repeat(n)}`],
    ['dashes', 'a-'.repeat(n / 2)],
    ['dots and base36', `${'glrt-'}${'a'.repeat(n)}.01.zz${'0'.repeat(7)}`],
    ['braces', '${'.repeat(n / 2)],
    ['spaces around', `${' '.repeat(n)}glrt-${B20}${' '.repeat(n)}`],
    ['zero-width inside', `glrt-${'\u200b'.repeat(n)}${B20}`],
    ['all invisible', '\u200b'.repeat(n)],
    ['< ... >', `<${'token '.repeat(n / 6)}>`],
  ];
  for (const [name, v] of long) {
    const c = classifyToken(v);
    t.ok(c.redacted.length <= 64, `${name}: short redaction (${c.redacted.length})`);
  }
  t.match(
    classifyToken(`${' '.repeat(n)}glrt-${B20}${' '.repeat(n)}`).cls,
    { kind: 'auth' },
    'whitespace does not hide a token',
  );
  t.match(
    classifyToken(`glrt-${'\u200b'.repeat(n)}${B20}`).cls,
    { kind: 'auth' },
    'nor does a run of zero-width spaces',
  );
  t.match(classifyToken('x'.repeat(n)).cls, { kind: 'unknown', looksSecret: false });
  t.same(classifyToken('\u200b'.repeat(n)).cls, { kind: 'empty' });
});

t.test('redactToken', async (t) => {
  t.equal(redactToken(`GR1348941${B20}`), `GR1348941…${B20.slice(-4)}`);
  t.equal(redactToken(`glrt-${B20}`), `glrt-…${B20.slice(-4)}`);
  t.equal(redactToken(`glrt-t1_${B20}`), `glrt-t1_…${B20.slice(-4)}`);
  t.equal(redactToken(`t3_${B20}`), `t3_…${B20.slice(-4)}`);
  t.equal(redactToken(`glrtr-${B20}`), `glrtr-…${B20.slice(-4)}`);
  t.equal(redactToken(`glpat-${B20}`), `glpat-…${B20.slice(-4)}`);
  t.equal(redactToken(`SIE-glrt-${B20}`), `SIE-glrt-…${B20.slice(-4)}`);
  t.equal(
    redactToken('-sX9bT3kQ7pL2mN8vR4w'),
    '…vR4w',
    'legacy: no prefix, its first chars are secret',
  );
  t.equal(
    redactToken(`t1_${body(17, 4)}`),
    `…${body(17, 4).slice(-4)}`,
    'legacy starting t1_: t1_ is not shown',
  );
  t.equal(
    redactToken(`glrt-${B20}\n`),
    `glrt-…${B20.slice(-4)}`,
    'whitespace not part of the tail',
  );
  t.equal(redactToken('abcdefg'), '(7 chars)');
  t.equal(redactToken('glrt-abc'), '(8 chars)');
  t.equal(
    redactToken(`glpat-${'k9'.repeat(4)}`),
    'glpat-…(8 chars)',
    'prefix shown, short secret not',
  );
  t.equal(redactToken(''), '(empty)');
  t.equal(redactToken('${RUNNER_TOKEN}'), '${RUNNER_TOKEN}');
  t.equal(redactToken('YOUR_REGISTRATION_TOKEN'), 'YOUR_REGISTRATION_TOKEN');
  t.equal(redactToken('<runner\ttoken>'), '<runner\\ttoken>', 'control chars escaped');
  t.equal(
    redactToken('glrt-xxxxxxxxxxxxxxxxxxxx'),
    'glrt-xxxxxxxxxxxxxxxxxxxx',
    'low-diversity placeholder shown whole',
  );
  t.equal(
    redactToken(`<${'token'.repeat(20)}>`),
    `<${'token'.repeat(20)}`.slice(0, 40) + '…',
    'placeholder cut at 40',
  );
  // a real-shaped "placeholder" by word is still redacted: the word test is a guess
  t.equal(redactToken('YOUR_RUNNER_TOKEN_XX'), '…N_XX');
  // a wrong cls cannot make a token print whole
  const real = `glrt-${B20}`;
  t.equal(redactToken(real, { kind: 'placeholder', intent: 'auth' }), `glrt-…${B20.slice(-4)}`);
  t.equal(redactToken(real, { kind: 'env-reference', variable: 'X' }), `glrt-…${B20.slice(-4)}`);
  t.equal(redactToken(real, { kind: 'empty' }), `glrt-…${B20.slice(-4)}`);
  t.equal(classifyToken(real).redacted, redactToken(real));
});

/** prefixes that may be printed: they say what a token is, not what its secret is */
const PUBLIC_PREFIX =
  /^(?:[A-Za-z0-9_-]{0,40}-)?(?:GR[0-9A-Fa-f]{7}|glrtr?-(?:t[123]_)?|t[123]_|gl[a-z]+-|_gitlab_session=)?$/;

function checkRedaction(value: string): string | undefined {
  const c = classifyToken(value);
  const r = c.redacted;
  if (r !== redactToken(value)) return 'classify and redact disagree';
  if (c.cls.kind === 'empty' || c.cls.kind === 'env-reference') return undefined;
  if (c.cls.kind === 'placeholder' && !r.includes('…')) return undefined; // shown whole by design
  if (/^\(\d+ chars\)$/.test(r)) return undefined;
  const compact = [...value]
    .filter(
      (ch) =>
        !/[\s\u0000-\u001f\u007f-\u00a0\u00ad\u200b-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\u061c\u1680\u180e]/.test(
          ch,
        ),
    )
    .join('');
  const dot = r.lastIndexOf('…');
  if (dot < 0) return `no ellipsis in ${JSON.stringify(r)}`;
  const prefix = r.slice(0, dot);
  const tail = r.slice(dot + 1);
  if (!PUBLIC_PREFIX.test(prefix)) return `prefix ${JSON.stringify(prefix)} is not a public prefix`;
  if (!compact.startsWith(prefix)) return 'prefix not from the value';
  const secret = compact.slice(prefix.length);
  if (/^\(\d+ chars\)$/.test(tail)) return undefined;
  if (tail.length > 4) return `tail ${JSON.stringify(tail)} longer than 4`;
  if (!secret.endsWith(tail)) return 'tail is not the end of the value';
  if (secret.length < 12) return 'tail shown for a short secret';
  if (r.includes(compact)) return 'whole token shown';
  return undefined;
}

t.test('property: redaction never shows the token, at most prefix + last 4', async (t) => {
  const tokenChar = fc.constantFrom(...ALPHABET.split(''));
  const tokenBody = (min: number, max: number) =>
    fc.array(tokenChar, { minLength: min, maxLength: max }).map((a) => a.join(''));
  const realTokens = fc.oneof(
    tokenBody(20, 20).map((b) => `GR1348941${b}`),
    tokenBody(20, 20),
    tokenBody(20, 20).map((b) => `glrt-${b}`),
    fc.tuple(fc.constantFrom('1', '2', '3'), tokenBody(20, 20)).map(([s, b]) => `glrt-t${s}_${b}`),
    fc.tuple(fc.constantFrom('1', '2', '3'), tokenBody(20, 20)).map(([s, b]) => `t${s}_${b}`),
    tokenBody(20, 20).map((b) => `glrtr-${b}`),
    fc
      .array(fc.constantFrom(...HEX.split('')), { minLength: 30, maxLength: 30 })
      .map((a) => a.join('')),
    fc
      .tuple(fc.constantFrom(...OTHER_GITLAB_PREFIXES.map(([p]) => p)), tokenBody(12, 60))
      .map(([p, b]) => p + b),
    fc
      .uint8Array({ minLength: 16, maxLength: 16 })
      .map((r) => routable('glrt-', { random: Buffer.from(r) })),
    tokenBody(16, 200),
  );
  fc.assert(
    fc.property(realTokens, fc.constantFrom('', '\n', '\r\n', ' ', '\u00a0'), (tok, ws) => {
      const c = classifyToken(tok + ws);
      const problem = checkRedaction(tok + ws);
      if (problem) throw new Error(`${problem}: ${c.redacted}`);
      if (isRealToken(c.cls) && c.redacted.includes(tok)) throw new Error('whole token shown');
      const dot = c.redacted.indexOf('…');
      if (isRealToken(c.cls) && dot >= 0) {
        // of the secret part (after the printed public prefix), no 5 consecutive chars may appear
        const secret = tok.slice(dot);
        const shown = c.redacted.slice(dot + 1);
        for (let i = 0; i + 5 <= secret.length; i++) {
          if (shown.includes(secret.slice(i, i + 5)))
            throw new Error(`5 secret chars shown: ${c.redacted}`);
        }
      }
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.string({ unit: 'binary', maxLength: 80 }),
        tokenBody(0, 120),
      ),
      (s) => {
        const problem = checkRedaction(s);
        if (problem)
          throw new Error(
            `${problem}: ${JSON.stringify(s)} -> ${JSON.stringify(classifyToken(s).redacted)}`,
          );
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('properties hold');
});

t.test('describeToken', async (t) => {
  const d = (v: string) => describeToken(classifyToken(v).cls);
  t.equal(d(`GR1348941${B20}`), 'a registration token (GR1348941…)');
  t.equal(d(`glrt-${B20}`), 'a runner authentication token (glrt-)');
  t.equal(d(`glrt-t2_${B20}`), 'a runner authentication token (glrt-t2_, group runner)');
  t.equal(d(`t3_${B20}`), 'a runner authentication token (t3_, project runner)');
  t.equal(d(`glrtr-${B20}`), 'a runner authentication token (glrtr-)');
  t.equal(d(`glpat-${B20}`), 'a personal access token (glpat-)');
  t.equal(d(`gloas-${B20}`), 'an OAuth application secret (gloas-)');
  t.equal(d('TOKEN'), 'a placeholder');
  t.equal(d('YOUR_REGISTRATION_TOKEN'), 'a placeholder for a registration token');
  t.equal(d('<runner token>'), 'a placeholder for a runner authentication token');
  t.equal(d(''), 'an empty value');
  t.equal(d('${RUNNER_TOKEN}'), 'a reference to the environment variable RUNNER_TOKEN');
  t.match(d('-sX9bT3kQ7pL2mN8vR4w'), /legacy .*only GitLab can tell/);
  t.match(d(body(30, 6, HEX)), /legacy runner authentication token/);
  t.match(d(routable('glrt-')), /^a routable runner authentication token \(glrt-\)$/);
  t.match(d(breakCrc(routable('glrt-'))), /wrong checksum/);
  t.match(d(`SIE-glrt-${B20}`), /instance prefix/);
  t.equal(d('abc'), 'an unrecognised value');
  for (const [, value] of table)
    t.notOk(d(value).includes(B20) || d(value).includes(B20b), 'never includes the secret');
});

t.test('predicates', async (t) => {
  const cls = (v: string) => classifyToken(v).cls;
  for (const v of [
    `glrt-${B20}`,
    `t1_${B20}`,
    `glrtr-${B20}`,
    routable('glrtr-'),
    `GR1348941${B20}`,
    `glpat-${B20}`,
  ]) {
    t.ok(isPrefixedToken(cls(v)), `prefixed: ${v.slice(0, 6)}`);
  }
  t.notOk(
    isPrefixedToken(cls('-sX9bT3kQ7pL2mN8vR4w')),
    'unprefixed legacy is not recognisable anywhere',
  );
  t.ok(isGitlabToken(cls('-sX9bT3kQ7pL2mN8vR4w')), 'but it is a form GitLab issues');
  t.notOk(isGitlabToken(cls(`zz${body(38, 8)}`)), 'a random secret is no GitLab form');
  t.notOk(isGitlabToken(cls('YOUR_REGISTRATION_TOKEN')));
  for (const v of [
    `GR1348941${B20}`,
    '-sX9bT3kQ7pL2mN8vR4w',
    `glrt-${B20}`,
    `glpat-${B20}`,
    `zz${body(38, 8)}`,
  ]) {
    t.ok(isRealToken(cls(v)), `real: ${v.slice(0, 6)}`);
  }
  for (const v of ['', 'TOKEN', '${X}', 'abc', 'x'.repeat(40)])
    t.notOk(isRealToken(cls(v)), `not real: ${v.slice(0, 6)}`);
  t.ok(isPlaceholderLike(cls('')));
  t.ok(isPlaceholderLike(cls('<token>')));
  t.notOk(isPlaceholderLike(cls('${RUNNER_TOKEN}')), 'env references resolve since runner 18.10');
  t.notOk(isPlaceholderLike(cls(`glrt-${B20}`)));
});
