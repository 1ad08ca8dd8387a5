import { describeObject, formatFinding } from '../../findings/format.js';
import type { Finding } from '../../findings/types.js';
import type { Mode } from '../../settings/settings.js';
import { NOT_KUBERNETES_COMPOSE, type FileReport, type ReportedFinding } from './engine.js';
import { TEMPLATE_SKIP, YAML_TEMPLATE_SKIP } from './load.js';

/** All files' reports, the counts of the summary line, and the exit code. Pure. */

export interface Summary {
  filesChecked: number;
  filesSkipped: number;
  objectsChecked: number;
  objectsSkipped: number;
  errors: number;
  /** objects (or config files) that the webhook would deny under the mode */
  denied: number;
  warnings: number;
  info: number;
  /** deny findings reported as warnings because the mode is warn/audit */
  downgraded: number;
}

export interface CheckReport {
  mode: Mode;
  strict: boolean;
  files: FileReport[];
  summary: Summary;
  exitCode: 0 | 1 | 2;
}

export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_ERROR = 2;

function objectKey(f: Finding): string {
  const o = f.object;
  return `${o.file ?? ''}\u0000${o.kind}\u0000${o.namespace ?? ''}\u0000${o.name ?? ''}`;
}

export function buildReport(files: FileReport[], mode: Mode, strict: boolean): CheckReport {
  const s: Summary = {
    filesChecked: 0,
    filesSkipped: 0,
    objectsChecked: 0,
    objectsSkipped: 0,
    errors: 0,
    denied: 0,
    warnings: 0,
    info: 0,
    downgraded: 0,
  };
  const denied = new Set<string>();
  for (const r of files) {
    if (r.status === 'checked') s.filesChecked++;
    else if (r.status === 'skipped') s.filesSkipped++;
    else s.errors++;
    s.objectsChecked += r.objects;
    s.objectsSkipped += r.skippedObjects;
    for (const f of r.findings) {
      if (f.outcome === 'deny') denied.add(objectKey(f.finding));
      else if (f.outcome === 'warn') s.warnings++;
      else s.info++;
      if (f.finding.severity === 'deny' && f.outcome !== 'deny') s.downgraded++;
    }
  }
  s.denied = denied.size;
  // I/O and parse errors win: a CI job must not pass because a file could not be read.
  const exitCode =
    s.errors > 0
      ? EXIT_ERROR
      : s.denied > 0 || (strict && s.warnings > 0)
        ? EXIT_FINDINGS
        : EXIT_OK;
  return { mode, strict, files, summary: s, exitCode };
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export function summaryLine(r: CheckReport): string {
  const s = r.summary;
  const parts = [plural(s.filesChecked, 'file') + ' checked'];
  if (s.filesSkipped) parts.push(`${plural(s.filesSkipped, 'file')} skipped`);
  parts.push(`${plural(s.objectsSkipped, 'object')} skipped (not runner configs or workloads)`);
  if (s.errors) parts.push(plural(s.errors, 'error'));
  parts.push(`${s.denied} denied`, plural(s.warnings, 'warning'));
  if (s.info) parts.push(`${s.info} info`);
  let line = parts.join(', ');
  if (s.downgraded)
    line += ` (mode ${r.mode}: ${plural(s.downgraded, 'deny finding')} reported as warnings)`;
  if (r.strict && s.warnings && !s.denied && !s.errors) line += ' (--strict: warnings fail)';
  return line;
}

export interface TextOptions {
  color: boolean;
  verbose: boolean;
}

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  cyan: '\x1b[36m',
};

function paint(on: boolean, codes: string, s: string): string {
  return on ? `${codes}${s}${ANSI.reset}` : s;
}

function where(file: string, line?: number, column?: number): string {
  return `${file}${line !== undefined ? `:${line}${column !== undefined ? `:${column}` : ''}` : ''}`;
}

/**
 * The finding's text exactly as the webhook renders it (src/findings/format.ts), minus the
 * `[RULEID] ` prefix that the CLI line already carries in its own column.
 */
export function findingBody(f: Finding): string {
  const text = formatFinding(f);
  const prefix = `[${f.ruleId}] `;
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

export function findingText(rf: ReportedFinding, color: boolean): string {
  const f = rf.finding;
  const sevColor =
    rf.outcome === 'deny' ? ANSI.red + ANSI.bold : rf.outcome === 'warn' ? ANSI.yellow : ANSI.cyan;
  const file = f.object.file ?? '?';
  const obj = f.object.kind === 'File' ? '' : `${describeObject(f.object)}: `;
  const [first, ...rest] = findingBody(f).split('\n');
  const head = `${paint(color, ANSI.bold, where(file, rf.line, rf.column))}: ${paint(color, sevColor, rf.outcome)} ${f.ruleId} ${obj}${first ?? ''}`;
  return [head, ...rest.map((l) => paint(color, ANSI.dim, l))].join('\n');
}

export function errorLine(r: FileReport): string {
  return `${where(r.file, r.line, r.column)}: error: ${r.reason ?? 'error'}`;
}

function isTemplateReason(reason: string | undefined): boolean {
  return (
    reason === TEMPLATE_SKIP || reason === YAML_TEMPLATE_SKIP || reason === NOT_KUBERNETES_COMPOSE
  );
}

/** Human output: findings on stdout, one-line errors on stderr, summary last on stdout. */
export function formatText(r: CheckReport, opts: TextOptions): { stdout: string; stderr: string } {
  const out: string[] = [];
  const err: string[] = [];
  for (const f of r.files) {
    if (f.status === 'error') {
      err.push(errorLine(f));
      continue;
    }
    if (f.status === 'skipped') {
      // A template source looks like a config the user meant to check; say why it was not.
      if (isTemplateReason(f.reason) || opts.verbose)
        out.push(`${paint(opts.color, ANSI.bold, f.file)}: skipped: ${f.reason}`);
      continue;
    }
    for (const n of f.notes) {
      if (opts.verbose || n.includes('template source') || n.includes('ambiguous'))
        out.push(`${paint(opts.color, ANSI.bold, f.file)}: ${n}`);
    }
    for (const rf of f.findings) out.push(findingText(rf, opts.color));
    if (opts.verbose && f.findings.length === 0) {
      out.push(
        `${paint(opts.color, ANSI.bold, f.file)}: ok (${plural(f.objects, 'runner object')}, ${plural(f.skippedObjects, 'other object')})`,
      );
    }
  }
  out.push(summaryLine(r));
  return { stdout: out.join('\n') + '\n', stderr: err.length ? err.join('\n') + '\n' : '' };
}
