import type { Finding, ObjectRef } from '../../findings/types.js';
import { formatFinding } from '../../findings/format.js';
import { effectiveMode } from '../../policy/mode.js';
import { evaluateObject } from '../../rules/evaluate.js';
import { WORKLOAD_KINDS } from '../../runner/facts.js';
import { isRecord } from '../../util/is-record.js';
import { ObjectIndex } from '../../workload/links.js';
import {
  fileReport,
  outcomeOf,
  type CheckOptions,
  type FileReport,
  type ReportedFinding,
} from '../check/engine.js';
import { buildReport, type CheckReport } from '../check/report.js';

/**
 * Objects listed from a cluster → the same report `check` builds, one "file" per namespace.
 * References among the objects are resolved like the webhook's lookups (src/workload/links.ts),
 * so GRA211-213 fire for what is already running. Pure.
 */

export interface ScannedObject {
  obj: Record<string, unknown>;
  ref: ObjectRef;
  /** the object's findings after the mode, empty when it passed */
  findings: ReportedFinding[];
}

export interface ScanResult {
  report: CheckReport;
  /** runner configs and workloads checked, with their findings (PolicyReports are built from these) */
  checked: ScannedObject[];
}

function meta(obj: Record<string, unknown>): { namespace: string; name: string } {
  const md = isRecord(obj.metadata) ? obj.metadata : {};
  return {
    namespace: typeof md.namespace === 'string' ? md.namespace : '',
    name: typeof md.name === 'string' ? md.name : '?',
  };
}

export function scanObjects(
  objects: readonly Record<string, unknown>[],
  opts: CheckOptions & { readSecrets: boolean },
): ScanResult {
  const index = new ObjectIndex();
  for (const o of objects) index.add(o, 'cluster');
  const byNs = new Map<string, FileReport>();
  const nsReport = (ns: string): FileReport => {
    let r = byNs.get(ns);
    if (!r) {
      r = fileReport(ns || '(cluster)');
      byNs.set(ns, r);
    }
    return r;
  };
  const checked: ScannedObject[] = [];
  for (const obj of objects) {
    const kind = typeof obj.kind === 'string' ? obj.kind : '';
    const { namespace, name } = meta(obj);
    const report = nsReport(namespace);
    let ev = evaluateObject(obj, { kind });
    if (!ev.relevant) {
      report.skippedObjects++;
      continue;
    }
    if (WORKLOAD_KINDS.has(kind)) {
      const linked = index.resolve(obj, namespace, { readSecrets: opts.readSecrets });
      if (linked) ev = evaluateObject(obj, { kind, resolved: linked.resolved });
    }
    report.objects++;
    const mode = effectiveMode(opts.mode, obj);
    const ref: ObjectRef = ev.object ?? { kind, namespace, name };
    const mine: ReportedFinding[] = ev.findings.map((f) => {
      const finding: Finding = { ...f, object: { ...f.object, file: report.file } };
      return { finding, mode, outcome: outcomeOf(f.severity, mode) };
    });
    report.findings.push(...mine);
    checked.push({ obj, ref, findings: mine });
  }
  const files = [...byNs.values()].sort((a, b) => a.file.localeCompare(b.file));
  for (const f of files)
    f.verdict = f.findings.some((x) => x.outcome === 'deny')
      ? 'deny'
      : f.findings.some((x) => x.outcome === 'warn')
        ? 'warn'
        : 'allow';
  return { report: buildReport(files, opts.mode, opts.strict), checked };
}

/** wgpolicyk8s.io/v1alpha2 PolicyReport severities. */
function severityOf(f: ReportedFinding): 'high' | 'medium' | 'info' {
  return f.finding.severity === 'deny' ? 'high' : f.finding.severity === 'warn' ? 'medium' : 'info';
}

/**
 * One PolicyReport per namespace (wgpolicyk8s.io/v1alpha2, the Policy Report API of the
 * Kubernetes policy working group, which Kyverno and Policy Reporter dashboards read): a `fail`
 * or `warn` result per finding, a `pass` result per runner object without findings.
 */
export function policyReports(
  checked: readonly ScannedObject[],
  now: Date = new Date(),
): Record<string, unknown>[] {
  const byNs = new Map<string, ScannedObject[]>();
  for (const c of checked) {
    const ns = c.ref.namespace ?? '';
    if (!ns) continue;
    byNs.set(ns, [...(byNs.get(ns) ?? []), c]);
  }
  const timestamp = { seconds: Math.floor(now.getTime() / 1000), nanos: 0 };
  const out: Record<string, unknown>[] = [];
  for (const [ns, list] of [...byNs.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const summary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
    const results: Record<string, unknown>[] = [];
    for (const c of list) {
      const md = isRecord(c.obj.metadata) ? c.obj.metadata : {};
      const resource = {
        apiVersion:
          typeof c.obj.apiVersion === 'string'
            ? c.obj.apiVersion
            : WORKLOAD_KINDS.has(c.ref.kind) && c.ref.kind !== 'Pod'
              ? 'apps/v1'
              : 'v1',
        kind: c.ref.kind,
        namespace: ns,
        name: c.ref.name ?? '',
        ...(typeof md.uid === 'string' ? { uid: md.uid } : {}),
      };
      const base = {
        source: 'gitlab-runner-admission',
        policy: 'gitlab-runner-admission',
        category: 'GitLab Runner tokens',
        scored: true,
        timestamp,
        resources: [resource],
      };
      if (c.findings.length === 0) {
        summary.pass++;
        results.push({
          ...base,
          rule: 'runner-config',
          result: 'pass',
          severity: 'info',
          message: 'no problem found',
        });
        continue;
      }
      for (const f of c.findings) {
        const result = f.outcome === 'deny' ? 'fail' : f.outcome === 'warn' ? 'warn' : 'pass';
        summary[result]++;
        results.push({
          ...base,
          rule: f.finding.ruleId,
          result,
          severity: severityOf(f),
          message: formatFinding(f.finding),
        });
      }
    }
    out.push({
      apiVersion: 'wgpolicyk8s.io/v1alpha2',
      kind: 'PolicyReport',
      metadata: {
        name: 'gitlab-runner-admission',
        namespace: ns,
        labels: { 'app.kubernetes.io/managed-by': 'gitlab-runner-admission' },
      },
      summary,
      results,
    });
  }
  return out;
}
