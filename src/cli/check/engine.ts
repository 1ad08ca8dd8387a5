import { isTemplateSource } from '../../config/index.js';
import type { Finding, ObjectRef, Severity } from '../../findings/types.js';
import { findingOutcome } from '../../policy/decide.js';
import { effectiveMode } from '../../policy/mode.js';
import { checkRunnerConfig } from '../../rules/config/check.js';
import { evaluateObject } from '../../rules/evaluate.js';
import type { Mode } from '../../settings/settings.js';
import { decodeText, loadText, type LoadedObject } from './load.js';
import { positionOf } from './positions.js';
import { isRecord } from '../../util/is-record.js';

/**
 * From one input's bytes to its report: the same `evaluateObject` / `checkRunnerConfig` the
 * webhook calls, then file positions, then the webhook's mode semantics. Pure.
 */

export interface CheckOptions {
  mode: Mode;
  strict: boolean;
}

/**
 * What a finding means under the mode, as the webhook decides (src/policy/decide.ts): in
 * `enforce` a deny finding denies; in `warn` and `audit` nothing is denied and deny findings
 * become warnings.
 */
export type Outcome = Severity;

export interface ReportedFinding {
  finding: Finding;
  /** 1-based line/column in the file (not inside the TOML value), when known */
  line?: number;
  column?: number;
  mode: Mode;
  outcome: Outcome;
}

/**
 * Per-file conclusion, in the vocabulary of the corpus INDEX.tsv: `skip` = template source not
 * checked; `error` = the file could not be read or parsed; else the worst outcome.
 */
export type Verdict = 'allow' | 'warn' | 'deny' | 'skip' | 'error';

export interface FileReport {
  file: string;
  status: 'checked' | 'skipped' | 'error';
  /** skipped: why; error: the one-line message */
  reason?: string;
  line?: number;
  column?: number;
  /** runner configs and runner workloads checked */
  objects: number;
  /** objects that are neither (Services, RBAC, Helm values, CRs, DELETE reviews, …) */
  skippedObjects: number;
  notes: string[];
  findings: ReportedFinding[];
  verdict: Verdict;
}

/** The webhook's rule (src/policy/decide.ts), so `check --mode` and the webhook agree. */
export const outcomeOf: (severity: Severity, mode: Mode) => Outcome = findingOutcome;

function verdictOf(findings: readonly ReportedFinding[]): Verdict {
  if (findings.some((f) => f.outcome === 'deny')) return 'deny';
  if (findings.some((f) => f.outcome === 'warn')) return 'warn';
  return 'allow';
}


/**
 * An unrendered Helm template can still parse as YAML; its `config.toml` value then holds
 * `{{ … }}` and is not TOML yet. Drop such values (the rules would call them broken TOML) and
 * say so. Rendered output (`helm template`) has none, so this never hides a real config.
 */
function withoutTemplateValues(obj: Record<string, unknown>): { obj: Record<string, unknown>; dropped: string[] } {
  const dropped: string[] = [];
  let out = obj;
  for (const field of ['data', 'stringData'] as const) {
    const data = obj[field];
    if (!isRecord(data)) continue;
    if (field === 'data' && obj.kind === 'Secret') continue; // base64, never raw template text
    const keep: Record<string, unknown> = {};
    let changed = false;
    for (const [k, v] of Object.entries(data)) {
      if (k.endsWith('.toml') && typeof v === 'string' && isTemplateSource(v)) {
        dropped.push(`${field}[${k}]`);
        changed = true;
      } else keep[k] = v;
    }
    if (changed) out = { ...out, [field]: keep };
  }
  return { obj: out, dropped };
}

function checkObject(lo: LoadedObject, file: string, opts: CheckOptions, report: FileReport): void {
  const { obj, dropped } = withoutTemplateValues(lo.obj);
  for (const d of dropped) report.notes.push(`${d}: skipped, template source, not TOML until rendered`);
  const ev = evaluateObject(obj, lo.kind !== undefined ? { kind: lo.kind } : {});
  if (!ev.relevant) {
    report.skippedObjects++;
    return;
  }
  report.objects++;
  const mode = effectiveMode(opts.mode, lo.obj);
  for (const f of ev.findings) {
    const object: ObjectRef = { ...f.object, file };
    if (object.namespace === undefined && lo.namespace !== undefined) object.namespace = lo.namespace;
    if (object.name === undefined && lo.name !== undefined) object.name = lo.name;
    const finding: Finding = { ...f, object };
    const rf: ReportedFinding = { finding, mode, outcome: outcomeOf(f.severity, mode) };
    if (lo.source) {
      const pos = positionOf(finding, lo.source);
      rf.line = pos.line;
      if (pos.column !== undefined) rf.column = pos.column;
    }
    // Without source positions (JSON the yaml reader refused) the TOML line stays in the message.
    report.findings.push(rf);
  }
}

/** Check one input given its bytes. */
export function checkBytes(file: string, bytes: Buffer, opts: CheckOptions): FileReport {
  const report: FileReport = { file, status: 'checked', objects: 0, skippedObjects: 0, notes: [], findings: [], verdict: 'allow' };
  const decoded = decodeText(bytes);
  if (!decoded.ok) return { ...report, status: 'error', reason: decoded.message, verdict: 'error' };
  const loaded = loadText(file, decoded.text);
  switch (loaded.type) {
    case 'error': {
      const r: FileReport = { ...report, status: 'error', reason: loaded.message, verdict: 'error' };
      if (loaded.line !== undefined) r.line = loaded.line;
      if (loaded.column !== undefined) r.column = loaded.column;
      return r;
    }
    case 'skip':
      return { ...report, status: 'skipped', reason: loaded.reason, verdict: 'skip' };
    case 'toml': {
      report.objects = 1;
      const object: ObjectRef = { kind: 'File', name: file, file };
      for (const f of checkRunnerConfig(loaded.text, { object, storage: 'file' })) {
        const rf: ReportedFinding = { finding: f, mode: opts.mode, outcome: outcomeOf(f.severity, opts.mode) };
        if (f.line !== undefined) rf.line = f.line;
        if (f.column !== undefined) rf.column = f.column;
        report.findings.push(rf);
      }
      break;
    }
    case 'objects':
      report.skippedObjects += loaded.skipped;
      report.notes.push(...loaded.notes);
      for (const lo of loaded.objects) checkObject(lo, file, opts, report);
      if (report.objects === 0 && report.skippedObjects === 0 && loaded.objects.length === 0 && loaded.skipped === 0) {
        report.notes.push('empty');
      }
      break;
  }
  report.findings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  report.verdict = verdictOf(report.findings);
  return report;
}

