import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadSettings, SettingsError } from '../../src/settings/settings.js';

/** loadSettings's one-line refusal for an env, or undefined when it is accepted. */
function refusal(env: Record<string, string>): string | undefined {
  try {
    loadSettings(env);
    return undefined;
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    t.notMatch(err.message, /\n/, 'one line');
    return err.message;
  }
}

t.test('defaults load from an empty environment', async (t) => {
  const s = loadSettings({});
  t.equal(s.port, 8443);
  t.equal(s.mode, 'enforce');
  t.equal(s.logLevel, 'info');
  t.same(s.gitlab, { verify: false, allowlist: [], caFile: undefined, budgetMs: 2000 });
});

t.test(
  'GRA_GITLAB_ALLOWLIST: https entries are kept, anything else stops the start naming the variable and the entry',
  async (t) => {
    t.same(
      loadSettings({
        GRA_GITLAB_ALLOWLIST: ' https://gitlab.example.com , https://git.corp.example/gitlab/ ',
      }).gitlab.allowlist,
      ['https://gitlab.example.com', 'https://git.corp.example/gitlab/'],
    );
    t.equal(
      refusal({ GRA_GITLAB_ALLOWLIST: 'https://gitlab.example.com,gitlab.corp.example' }),
      'GRA_GITLAB_ALLOWLIST: entry "gitlab.corp.example" has no scheme; write it as https://gitlab.corp.example',
    );
    t.equal(
      refusal({ GRA_GITLAB_ALLOWLIST: 'http://gitlab.ci.svc:8080' }),
      'GRA_GITLAB_ALLOWLIST: entry "http://gitlab.ci.svc:8080" uses http://, so runner tokens would travel in cleartext; use https://',
    );
    t.match(
      refusal({ GRA_GITLAB_ALLOWLIST: 'ftp://gitlab.example.com' }),
      /^GRA_GITLAB_ALLOWLIST: entry "ftp:\/\/gitlab\.example\.com" must be an https:\/\/ URL$/,
    );
    t.match(
      refusal({ GRA_GITLAB_ALLOWLIST: 'https://gitlab.example.com?x=1' }),
      /^GRA_GITLAB_ALLOWLIST: .*query or fragment/,
    );
    const creds = refusal({
      GRA_GITLAB_ALLOWLIST: 'https://admin:hunter2secret@gitlab.example.com',
    });
    t.match(
      creds,
      /^GRA_GITLAB_ALLOWLIST: entry "https:\/\/\(credentials removed\)@gitlab\.example\.com" holds credentials/,
    );
    t.notMatch(creds, /hunter2|admin/, 'the credentials are never echoed');
    const noSchemeCreds = refusal({
      GRA_GITLAB_ALLOWLIST: 'admin:hunter2secret@gitlab.example.com',
    });
    t.match(noSchemeCreds, /has no scheme/);
    t.notMatch(noSchemeCreds, /hunter2/, 'not even when the entry has no scheme');
  },
);

t.test('GRA_GITLAB_VERIFY=true needs an allowlist', async (t) => {
  t.equal(
    refusal({ GRA_GITLAB_VERIFY: 'true' }),
    'GRA_GITLAB_ALLOWLIST must list at least one https:// GitLab URL when GRA_GITLAB_VERIFY is true',
  );
  t.equal(
    refusal({ GRA_GITLAB_VERIFY: 'true', GRA_GITLAB_ALLOWLIST: 'https://gitlab.example.com' }),
    undefined,
  );
});

t.test('GRA_GITLAB_CA_FILE: a missing or non-PEM file names the variable', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gra-settings-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'nope.pem');
  t.equal(
    refusal({ GRA_GITLAB_CA_FILE: missing }),
    `GRA_GITLAB_CA_FILE: cannot read "${missing}" (ENOENT)`,
  );
  const junk = path.join(dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate\n');
  t.equal(
    refusal({ GRA_GITLAB_CA_FILE: junk }),
    `GRA_GITLAB_CA_FILE: "${junk}" holds no PEM certificate`,
  );
  const good = path.join(dir, 'ca.pem');
  writeFileSync(good, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  t.equal(loadSettings({ GRA_GITLAB_CA_FILE: good }).gitlab.caFile, good);
});

t.test('every other variable is checked at start with one line naming it', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ GRA_PORT: '70000' }, /^GRA_PORT must be a port number \(0-65535\), got "70000"$/],
    [{ GRA_PORT: 'https' }, /^GRA_PORT must be an integer >= 0, got "https"$/],
    [{ GRA_METRICS_PORT: '-1' }, /^GRA_METRICS_PORT /],
    [{ GRA_MODE: 'strict' }, /^GRA_MODE must be one of enforce, warn, audit, got "strict"$/],
    [{ GRA_CERT_MODE: 'acme' }, /^GRA_CERT_MODE must be one of /],
    [
      { GRA_LOG_LEVEL: 'verbose' },
      /^GRA_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"$/,
    ],
    [{ GRA_BODY_LIMIT: '10' }, /^GRA_BODY_LIMIT must be an integer >= 1024/],
    [{ GRA_REVIEW_BUDGET_MS: '1.5' }, /^GRA_REVIEW_BUDGET_MS /],
    [{ GRA_KUBE_LOOKUPS: 'maybe' }, /^GRA_KUBE_LOOKUPS must be true or false, got "maybe"$/],
    [{ GRA_KUBE_READ_SECRETS: 'y' }, /^GRA_KUBE_READ_SECRETS /],
    [{ GRA_KUBE_TIMEOUT_MS: '1' }, /^GRA_KUBE_TIMEOUT_MS /],
    [{ GRA_KUBE_CACHE_TTL_MS: 'x' }, /^GRA_KUBE_CACHE_TTL_MS /],
    [{ GRA_GITLAB_VERIFY: 'yes please' }, /^GRA_GITLAB_VERIFY /],
    [{ GRA_GITLAB_BUDGET_MS: '0' }, /^GRA_GITLAB_BUDGET_MS /],
    [
      { GRA_SERVICE_NAME: 'My_Webhook' },
      /^GRA_SERVICE_NAME must be a Kubernetes DNS-1123 label .*got "My_Webhook"$/,
    ],
    [{ GRA_NAMESPACE: 'a.b' }, /^GRA_NAMESPACE must be a Kubernetes DNS-1123 label/],
    [
      { GRA_VALIDATING_WEBHOOK_NAME: 'UPPER' },
      /^GRA_VALIDATING_WEBHOOK_NAME must be a Kubernetes DNS-1123 subdomain/,
    ],
    [{ GRA_MUTATING_WEBHOOK_NAME: '-x' }, /^GRA_MUTATING_WEBHOOK_NAME /],
    [{ GRA_SHUTDOWN_GRACE_MS: 'soon' }, /^GRA_SHUTDOWN_GRACE_MS /],
    [{ GRA_WORKER_NICE: '20' }, /^GRA_WORKER_NICE must be an integer from 0 to 19, got "20"$/],
    [{ GRA_WORKER_NICE: '-5' }, /^GRA_WORKER_NICE must be an integer from 0 to 19, got "-5"$/],
  ];
  for (const [env, re] of cases) t.match(refusal(env), re, String(Object.keys(env)[0]));
  t.equal(
    refusal({
      GRA_VALIDATING_WEBHOOK_NAME: 'gra.example.com',
      GRA_SERVICE_NAME: 'gra',
      GRA_LOG_LEVEL: 'silent',
    }),
    undefined,
  );
});
