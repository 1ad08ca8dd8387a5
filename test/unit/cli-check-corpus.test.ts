import t from 'tap';
import path from 'node:path';
import { checkPaths } from '../../src/cli/check.js';
import type { Verdict } from '../../src/cli/check/engine.js';
import { haveShared, readTsv, sharedDir, SKIP_SHARED } from '../helpers/fixtures.js';

/**
 * `check ../shared/corpus/` against INDEX.tsv, file by file. How our outputs map onto the
 * INDEX vocabulary (docs/cli.md, "Corpus verdicts"):
 *   deny  ← a deny finding (exit 1);  warn ← warn findings only;  error ← one-line I/O/parse
 *   error (exit 2);  skip ← "skipped: template source";  allow ← nothing reported: no deny/warn
 *   finding (info findings do not count), or a file the checker does not take (a template
 *   source by name, a .cue file a directory walk ignores).
 * Files are read in place; the corpus is never copied (house rules).
 */

const corpus = path.join(sharedDir, 'corpus');

/**
 * Where we answer differently on purpose. Each entry asserts the verdict we DO give, so a
 * change either way shows up here. README.md "Corpus verdicts we disagree with" lists the first
 * three; the others are listed in docs/cli.md and reported to the lead.
 */
const DISAGREE: Record<string, { ours: Verdict; why: string }> = {
  'toml/official-testdata-lint-misspelled_key.toml': {
    ours: 'warn',
    why: 'GRA007 unknown key buids_dir (facts §5; README)',
  },
  'toml/official-testdata-lint-wrong_section.toml': {
    ours: 'warn',
    why: 'GRA007 stray top-level `runner` table (facts §5; README)',
  },
  'toml/metzenseifner-custom-nspawn.toml': {
    ours: 'warn',
    why: 'GRA007 runners.custom.run_exec_timeout is not a CustomConfig key (README)',
  },
  'k8s/sgaunet-configmap-stars-placeholder.yaml': {
    ours: 'warn',
    why: 'GRA007: disable_cache, shm_size, tls_verify are [runners.docker] keys written under [runners.kubernetes], ignored there (facts §5)',
  },
  'k8s/fullstack-pw-helm-values-runnerToken-named-registration_token.yaml.tpl': {
    ours: 'skip',
    why: 'a Terraform template of Helm values: a template source, not YAML values until Terraform renders it',
  },
  // Issue 15: values files are checked, and a token inline in values (instead of runners.secret) is a warning.
  'k8s/devopsprathamesh-helm-values-GR-runnerRegistrationToken.yaml': {
    ours: 'warn',
    why: 'GRA505 registration token inline in chart values (README)',
  },
  'k8s/webees-helm-values-runnerToken-glrt.yaml': {
    ours: 'warn',
    why: 'GRA505 glrt- token inline in chart values (README)',
  },
  // Issue 15: objects given in one run are linked; this Deployment runs the ConfigMap of the same repo, whose token is "[TOKEN]".
  'k8s/anuchito-deployment.yaml': {
    ours: 'deny',
    why: 'GRA211 with k8s/anuchito-configmap.yaml (same namespace/name) in the same run (README)',
  },
};

function matches(expected: string, ours: Verdict | 'ignored'): boolean {
  if (expected === 'allow') return ours === 'allow' || ours === 'ignored' || ours === 'skip';
  return expected === ours;
}

t.test('corpus verdicts agree with INDEX.tsv', { skip: SKIP_SHARED }, async (t) => {
  if (!haveShared) return;
  const rows = readTsv(path.join(corpus, 'INDEX.tsv'));
  t.ok(rows.length >= 50, 'INDEX read');
  const report = await checkPaths([corpus], { mode: 'enforce', strict: false }, async () =>
    Buffer.alloc(0),
  );
  const byFile = new Map(
    report.files.map((f) => [path.relative(corpus, f.file).split(path.sep).join('/'), f]),
  );

  for (const row of rows) {
    const file = row.file ?? '';
    const expected = row.expected_verdict ?? '';
    const r = byFile.get(file);
    const ours: Verdict | 'ignored' = r ? r.verdict : 'ignored';
    const detail = r
      ? r.findings
          .filter((f) => f.outcome !== 'info')
          .map((f) => f.finding.ruleId)
          .join(',') ||
        r.reason ||
        ''
      : 'not read';
    const d = DISAGREE[file];
    if (d) {
      t.equal(ours, d.ours, `${file}: documented disagreement (INDEX ${expected}): ${d.why}`);
      t.not(
        expected,
        d.ours,
        `${file}: still a disagreement (drop it from the list once INDEX agrees)`,
      );
      continue;
    }
    t.ok(matches(expected, ours), `${file}: INDEX ${expected}, ours ${ours} ${detail}`);
    if (expected === 'skip')
      t.equal(
        r?.status,
        'skipped',
        `${file}: a template source is skipped, never called broken TOML`,
      );
    if (expected === 'error')
      t.match(r?.reason ?? '', /^YAML does not parse/, `${file}: one-line parse error`);
  }
  // Every file we read is in INDEX (no stray inputs), so the per-row loop covered all of them.
  for (const f of byFile.keys())
    t.ok(
      rows.some((r) => r.file === f),
      `${f} listed in INDEX`,
    );
  t.equal(
    report.exitCode,
    2,
    'the corpus holds one unparseable YAML, so the run exits 2 after checking the rest',
  );
  t.ok(report.summary.filesChecked > 40, 'the other files were still checked');
});
