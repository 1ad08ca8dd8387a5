import t from 'tap';
import {
  baseUrlOf,
  compileAllowlist,
  displayUrl,
  matchAllowlist,
  parseBase,
} from '../../src/gitlab/allowlist.js';

const list = compileAllowlist([
  'https://gitlab.example.com',
  'https://git.corp.example/gitlab/',
  'http://gitlab.ci.svc:8080',
]);

function contacted(url: string): string | undefined {
  const b = matchAllowlist(list, url);
  return b ? baseUrlOf(b) : undefined;
}

t.test('allowed URLs map to the base the verifier contacts', async (t) => {
  t.equal(contacted('https://gitlab.example.com'), 'https://gitlab.example.com');
  t.equal(contacted('https://gitlab.example.com/'), 'https://gitlab.example.com', 'trailing slash');
  t.equal(
    contacted('HTTPS://GitLab.Example.COM/'),
    'https://gitlab.example.com',
    'case of scheme and host',
  );
  t.equal(
    contacted('https://gitlab.example.com:443'),
    'https://gitlab.example.com',
    'explicit default port',
  );
  t.equal(
    contacted('https://gitlab.example.com./'),
    'https://gitlab.example.com',
    'one trailing dot is the same DNS name',
  );
  t.equal(
    contacted('https://gitlab.example.com/ci'),
    'https://gitlab.example.com',
    'trailing /ci dropped like gitlab-runner fixCIURL',
  );
  t.equal(
    contacted('https://git.corp.example/gitlab'),
    'https://git.corp.example/gitlab',
    'relative URL root',
  );
  t.equal(
    contacted('https://git.corp.example/gitlab/sub/'),
    'https://git.corp.example/gitlab/sub',
    'deeper path under the prefix',
  );
  t.equal(
    contacted('http://gitlab.ci.svc:8080'),
    'http://gitlab.ci.svc:8080',
    'http only where the allowlist says http',
  );
  t.equal(
    contacted('  https://gitlab.example.com\n'),
    'https://gitlab.example.com',
    'surrounding whitespace',
  );
  t.equal(
    contacted('https://gitlab.example.com/?x=1#frag'),
    'https://gitlab.example.com',
    'query and fragment never reach the request',
  );
});

t.test('tricks never match', async (t) => {
  const tricks = [
    'https://gitlab.example.com@evil.example', // userinfo: host is evil.example
    'https://gitlab.example.com:pw@evil.example/',
    'https://user@gitlab.example.com', // any userinfo is refused, even on the right host
    'https://gitlab.example.com.evil.example',
    'https://evil.example/gitlab.example.com',
    'https://evil.example?https://gitlab.example.com',
    'https://gitlab.example.com..',
    'https://gitlab.example.com:444',
    'http://gitlab.example.com', // scheme downgrade
    'https://gitlab.exаmple.com', // Cyrillic а: IDN → punycode, a different host
    'https://git.corp.example/gitlab-evil', // prefix on a segment boundary only
    'https://git.corp.example/gitlabx/',
    'https://git.corp.example/gitlab/../evil', // dot segments resolved before matching
    'https://git.corp.example/gitlab/%2e%2e/evil',
    'https://git.corp.example/',
    'ftp://gitlab.example.com',
    'gitlab.example.com',
    '${CI_SERVER_URL}',
    '',
    'https://',
    'https://[::1]',
  ];
  for (const u of tricks) t.equal(contacted(u), undefined, `not allowed: ${JSON.stringify(u)}`);
});

t.test('backslash is a path separator for https, so the host stays the allowed one', async (t) => {
  // WHATWG URL: for special schemes "\" is "/", so this is host gitlab.example.com, path /@evil.example
  t.equal(
    contacted('https://gitlab.example.com\\@evil.example'),
    'https://gitlab.example.com/@evil.example',
  );
});

t.test('the contacted origin comes from the allowlist entry', async (t) => {
  const b = matchAllowlist(list, 'https://GITLAB.example.com.:443/');
  t.ok(b);
  t.equal(b!.hostname, 'gitlab.example.com');
  t.equal(b!.port, 443);
});

t.test('invalid allowlist entries are reported and never match', async (t) => {
  const l = compileAllowlist([
    'not a url',
    'https://u:secret@gitlab.example.com',
    'https://ok.example',
  ]);
  t.equal(l.entries.length, 1);
  t.equal(l.invalid.length, 2);
  t.notMatch(l.invalid.join(' '), /secret/, 'credentials in a bad entry are not echoed');
  t.equal(matchAllowlist(l, 'https://gitlab.example.com'), undefined);
});

t.test('displayUrl never echoes credentials or unparseable text', async (t) => {
  t.equal(
    displayUrl('https://gitlab.example.com/x/?private_token=glpat-abc#f'),
    'https://gitlab.example.com/x',
  );
  t.notMatch(displayUrl('https://root:glpat-supersecret@gitlab.example.com'), /supersecret|root/);
  t.equal(displayUrl('glrt-notaurlatall1234'), '(unparseable URL)');
});

t.test('parseBase rejects non-http schemes and empty hosts', async (t) => {
  t.equal(parseBase('file:///etc/passwd'), undefined);
  t.equal(parseBase('javascript:alert(1)'), undefined);
  t.same(parseBase('https://gitlab.example.com/a//b/'), {
    protocol: 'https:',
    hostname: 'gitlab.example.com',
    port: 443,
    segments: ['a', 'b'],
  });
});
