import t from 'tap';
import { allow, deny, patched, respond } from '../../src/admission/review.js';
import { decide, findingOutcome, MAX_WARNINGS } from '../../src/policy/decide.js';
import type { Finding } from '../../src/findings/types.js';

const object = { kind: 'ConfigMap', namespace: 'ci', name: 'runner' };
const finding = (ruleId: string, severity: Finding['severity']): Finding => ({
  ruleId,
  severity,
  title: ruleId,
  object,
  message: `${ruleId} message`,
  fix: `${ruleId} fix`,
});

t.test('response helpers: the one place an AdmissionResponse is built', async (t) => {
  t.same(allow('u1'), { uid: 'u1', allowed: true }, 'no empty warnings or annotations');
  t.same(allow('u1', { warnings: [] }), { uid: 'u1', allowed: true });
  t.same(deny('u2', 'no', { warnings: ['w'] }), {
    uid: 'u2',
    allowed: false,
    status: { code: 403, reason: 'Forbidden', message: 'no' },
    warnings: ['w'],
  });
  t.same(
    patched('u3', []),
    { uid: 'u3', allowed: true },
    'no operations: a plain allow without patchType',
  );
  const p = patched('u4', [{ op: 'add', path: '/metadata/labels', value: {} }]);
  t.equal(p.patchType, 'JSONPatch');
  t.same(JSON.parse(Buffer.from(p.patch!, 'base64').toString('utf8')), [
    { op: 'add', path: '/metadata/labels', value: {} },
  ]);
});

t.test(
  'findingOutcome: a deny finding denies only under enforce (webhook and CLI share it)',
  async (t) => {
    t.equal(findingOutcome('deny', 'enforce'), 'deny');
    t.equal(findingOutcome('deny', 'warn'), 'warn');
    t.equal(findingOutcome('deny', 'audit'), 'warn');
    t.equal(findingOutcome('warn', 'enforce'), 'warn');
    t.equal(findingOutcome('info', 'enforce'), 'info');
  },
);

t.test('decide → respond per mode', async (t) => {
  const fs = [finding('GRA001', 'deny'), finding('GRA005', 'warn'), finding('GRA401', 'info')];
  const enforce = respond('u', decide(object, fs, 'enforce'));
  t.equal(enforce.allowed, false);
  t.match(enforce.status?.message, /GRA001/);
  t.equal(enforce.warnings?.length, 1, 'the warn finding rides along; info never reaches kubectl');
  const warn = decide(object, fs, 'warn');
  t.equal(warn.decision, 'warn');
  t.match(warn.warnings[0], /GRA001/, 'the deny finding first');
  t.equal(warn.warnings.length, 2);
  const audit = respond('u', decide(object, fs, 'audit'));
  t.equal(audit.allowed, true);
  t.equal(audit.warnings, undefined);
  t.same(audit.auditAnnotations?.findings, 'GRA001,GRA005');
  t.equal(audit.auditAnnotations?.['would-deny'], 'true');
  const many = Array.from({ length: MAX_WARNINGS + 5 }, (_, i) => finding(`GRA0${10 + i}`, 'warn'));
  t.equal(decide(object, many, 'enforce').warnings.length, MAX_WARNINGS, 'capped');
  t.same(decide(object, [], 'enforce'), { decision: 'allow', warnings: [] });
});
