import { isTemplateSource } from '../../config/index.js';
import type { Finding, ObjectRef, Severity } from '../../findings/types.js';
import { findingOutcome } from '../../policy/decide.js';
import { effectiveMode } from '../../policy/mode.js';
import { checkRunnerConfig } from '../../rules/config/check.js';
import { evaluateObject } from '../../rules/evaluate.js';
import { WORKLOAD_KINDS } from '../../runner/facts.js';
import { checkChartValuesText, chartValuesIn } from '../../rules/chartvalues/check.js';
import { ObjectIndex } from '../../workload/links.js';
import type { Mode } from '../../settings/settings.js';
import { decodeText, loadText, type Loaded, type LoadedObject } from './load.js';
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
function withoutTemplateValues(obj: Record<string, unknown>): {
  obj: Record<string, unknown>;
  dropped: string[];
} {
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

function checkObject(
  lo: LoadedObject,
  file: string,
  opts: CheckOptions,
  report: FileReport,
  links?: ObjectIndex,
): void {
  const { obj, dropped } = withoutTemplateValues(lo.obj);
  for (const d of dropped)
    report.notes.push(`${d}: skipped, template source, not TOML until rendered`);
  const kind = lo.kind ?? (typeof obj.kind === 'string' ? obj.kind : undefined);
  let ev = evaluateObject(obj, lo.kind !== undefined ? { kind: lo.kind } : {});
  if (!ev.relevant) {
    report.skippedObjects++;
    return;
  }
  if (links && kind !== undefined && WORKLOAD_KINDS.has(kind)) {
    // Objects given in the same run stand in for the webhook's lookups (same namespace and name).
    const linked = links.resolve(obj, namespaceOf(lo) ?? '');
    if (linked) {
      ev = evaluateObject(obj, {
        ...(lo.kind !== undefined ? { kind: lo.kind } : {}),
        resolved: linked.resolved,
      });
      report.notes.push(...linked.notes.map((n) => `${describeWhat(obj, lo)}: ${n}`));
    }
  }
  if (ev.notes) report.notes.push(...ev.notes.map((n) => `${describeWhat(obj, lo)}: ${n}`));
  report.objects++;
  const mode = effectiveMode(opts.mode, lo.obj);
  for (const f of ev.findings) {
    const object: ObjectRef = { ...f.object, file };
    if (object.namespace === undefined && lo.namespace !== undefined)
      object.namespace = lo.namespace;
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

function namespaceOf(lo: LoadedObject): string | undefined {
  const md = lo.obj.metadata;
  return isRecord(md) && typeof md.namespace === 'string' ? md.namespace : lo.namespace;
}

function describeWhat(obj: Record<string, unknown>, lo: LoadedObject): string {
  const md = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof md.name === 'string' ? md.name : (lo.name ?? '?');
  const ns = namespaceOf(lo);
  return `${lo.kind ?? String(obj.kind)} ${ns ? `${ns}/` : ''}${name}`;
}

export const NOT_KUBERNETES_COMPOSE = 'not a Kubernetes manifest (a docker-compose file), skipped';

/**
 * docker-compose files are YAML with `services:` and no `kind`; their `gitlab-runner register`
 * environment is not what the Kubernetes rules read, so say plainly that nothing was checked.
 */
function isComposeFile(loaded: Loaded): boolean {
  if (loaded.type !== 'objects' || loaded.objects.length !== 1) return false;
  const o = loaded.objects[0]!.obj;
  return (
    !('kind' in o) &&
    !('apiVersion' in o) &&
    isRecord(o.services) &&
    Object.values(o.services).some((s) => isRecord(s) && ('image' in s || 'build' in s))
  );
}

/** One input decoded and loaded, before any rule runs; `check` loads every input first so objects can be linked. */
export interface Prepared {
  file: string;
  text?: string;
  loaded: Loaded | { type: 'error'; message: string };
}

export function prepareBytes(file: string, bytes: Buffer): Prepared {
  const decoded = decodeText(bytes);
  if (!decoded.ok) return { file, loaded: { type: 'error', message: decoded.message } };
  return { file, text: decoded.text, loaded: loadText(file, decoded.text) };
}

/** Every ConfigMap and Secret of the prepared inputs, by namespace and name, with the file line it came from. */
export function indexPrepared(inputs: readonly Prepared[]): ObjectIndex {
  const index = new ObjectIndex();
  for (const p of inputs) {
    if (p.loaded.type !== 'objects') continue;
    for (const lo of p.loaded.objects) {
      const line = lo.source
        ? lo.source.lc.linePos(lo.source.node.range?.[0] ?? 0).line
        : undefined;
      index.add(lo.obj, line !== undefined ? `${p.file}:${line}` : p.file, lo.namespace ?? '');
    }
  }
  return index;
}

/** Check one input given its bytes (no linking with other inputs). */
export function checkBytes(file: string, bytes: Buffer, opts: CheckOptions): FileReport {
  const p = prepareBytes(file, bytes);
  return checkPrepared(p, opts, p.loaded.type === 'objects' ? indexPrepared([p]) : undefined);
}

/** A gitlab-runner chart values file: lines of findings are lines of the file. */
function checkValuesFile(p: Prepared, opts: CheckOptions, report: FileReport): boolean {
  if (p.text === undefined || p.loaded.type !== 'objects' || p.loaded.objects.length !== 1)
    return false;
  if (!chartValuesIn(p.loaded.objects[0]!.obj)) return false;
  const object: ObjectRef = { kind: 'File', name: p.file, file: p.file };
  const ev = checkChartValuesText(p.text, { object, host: 'this values file' });
  if (!ev) return false;
  report.objects = 1;
  report.notes.push('gitlab-runner chart values (chart 0.x)', ...ev.notes);
  for (const f of ev.findings) {
    const rf: ReportedFinding = {
      finding: f,
      mode: opts.mode,
      outcome: outcomeOf(f.severity, opts.mode),
    };
    if (f.line !== undefined) rf.line = f.line;
    report.findings.push(rf);
  }
  return true;
}

/** A file's report before anything is checked: nothing found yet. */
export function fileReport(file: string): FileReport {
  return {
    file,
    status: 'checked',
    objects: 0,
    skippedObjects: 0,
    notes: [],
    findings: [],
    verdict: 'allow',
  };
}

/** A file (or namespace) that could not be checked, with the one-line reason. */
export function errorReport(file: string, reason: string): FileReport {
  return { ...fileReport(file), status: 'error', reason, verdict: 'error' };
}

/** Check one prepared input; `links` resolves workload references among all inputs of the run. */
export function checkPrepared(p: Prepared, opts: CheckOptions, links?: ObjectIndex): FileReport {
  const file = p.file;
  const report = fileReport(file);
  const loaded = p.loaded;
  if (isComposeFile(loaded))
    return { ...report, status: 'skipped', reason: NOT_KUBERNETES_COMPOSE, verdict: 'skip' };
  if (checkValuesFile(p, opts, report)) {
    report.findings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    report.verdict = verdictOf(report.findings);
    return report;
  }
  switch (loaded.type) {
    case 'error': {
      const r: FileReport = {
        ...report,
        status: 'error',
        reason: loaded.message,
        verdict: 'error',
      };
      if ('line' in loaded && loaded.line !== undefined) r.line = loaded.line;
      if ('column' in loaded && loaded.column !== undefined) r.column = loaded.column;
      return r;
    }
    case 'skip':
      return { ...report, status: 'skipped', reason: loaded.reason, verdict: 'skip' };
    case 'toml': {
      report.objects = 1;
      const object: ObjectRef = { kind: 'File', name: file, file };
      for (const f of checkRunnerConfig(loaded.text, { object, storage: 'file' })) {
        const rf: ReportedFinding = {
          finding: f,
          mode: opts.mode,
          outcome: outcomeOf(f.severity, opts.mode),
        };
        if (f.line !== undefined) rf.line = f.line;
        if (f.column !== undefined) rf.column = f.column;
        report.findings.push(rf);
      }
      break;
    }
    case 'objects':
      report.skippedObjects += loaded.skipped;
      report.notes.push(...loaded.notes);
      for (const lo of loaded.objects) checkObject(lo, file, opts, report, links);
      if (
        report.objects === 0 &&
        report.skippedObjects === 0 &&
        loaded.objects.length === 0 &&
        loaded.skipped === 0
      ) {
        report.notes.push('empty');
      }
      break;
  }
  report.findings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  report.verdict = verdictOf(report.findings);
  return report;
}
