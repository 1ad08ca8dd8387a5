import { describeLocation } from '../../findings/format.js';
import type { Severity } from '../../findings/types.js';
import type { ReportedFinding } from './engine.js';
import { summaryLine, type CheckReport } from './report.js';
import { ruleCatalog } from './rules-catalog.js';
import { redactSecrets } from '../../tokens/redact.js';

const red = (s: string | undefined): string | undefined =>
  s === undefined ? undefined : redactSecrets(s);

/** `--format json` and `--format sarif`. Pure. Tokens are in findings already redacted. */

export const JSON_FORMAT_VERSION = 1;

function jsonFinding(rf: ReportedFinding): Record<string, unknown> {
  const f = rf.finding;
  const o: Record<string, unknown> = {
    ruleId: f.ruleId,
    severity: f.severity,
    outcome: rf.outcome,
    mode: rf.mode,
    title: f.title,
    file: f.object.file,
    line: rf.line,
    column: rf.column,
    // names and keys are user text: a token pasted there is masked as in every other output
    object: { kind: f.object.kind, namespace: red(f.object.namespace), name: red(f.object.name) },
    location: describeLocation(f) || undefined,
    field: red(f.field),
    dataKey: red(f.dataKey),
    runner: f.runner && {
      index: f.runner.index,
      ...(f.runner.name !== undefined ? { name: redactSecrets(f.runner.name) } : {}),
    },
    // the position inside the TOML value (for a config file it equals line/column)
    tomlLine: f.line,
    tomlColumn: f.column,
    token: f.token,
    message: f.message,
    fix: f.fix,
  };
  return o;
}

export function formatJson(r: CheckReport): string {
  const doc = {
    version: JSON_FORMAT_VERSION,
    tool: 'gitlab-runner-admission check',
    mode: r.mode,
    strict: r.strict,
    exitCode: r.exitCode,
    summary: { ...r.summary, text: summaryLine(r) },
    files: r.files.map((f) => ({
      file: f.file,
      status: f.status,
      verdict: f.verdict,
      reason: f.reason,
      line: f.line,
      column: f.column,
      objects: f.objects,
      skippedObjects: f.skippedObjects,
      notes: f.notes.length ? f.notes : undefined,
    })),
    findings: r.files.flatMap((f) => f.findings.map(jsonFinding)),
    errors: r.files
      .filter((f) => f.status === 'error')
      .map((f) => ({ file: f.file, line: f.line, column: f.column, message: f.reason })),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

// SARIF 2.1.0 (OASIS), §3.27.10 result.level: error | warning | note | none.
export const SARIF_SCHEMA =
  'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  deny: 'error',
  warn: 'warning',
  info: 'note',
};

/** artifactLocation.uri is a URI reference: forward slashes, each segment percent-encoded. */
export function fileUri(file: string): string {
  if (file === '<stdin>') return 'stdin';
  const p = file.replace(/\\/g, '/');
  const segs = p
    .split('/')
    .map((s, i) => (i === 0 && /^[A-Za-z]:$/.test(s) ? s : encodeURIComponent(s)));
  const joined = segs.join('/');
  return p.startsWith('/') ? `file://${joined}` : joined.replace(/^\.\//, '');
}

function region(line?: number, column?: number): Record<string, number> | undefined {
  if (line === undefined) return undefined;
  return column !== undefined ? { startLine: line, startColumn: column } : { startLine: line };
}

export function formatSarif(r: CheckReport, toolVersion: string): string {
  const all = r.files.flatMap((f) => f.findings);
  const rules = ruleCatalog(all.map((x) => x.finding));
  const index = new Map(rules.map((x, i) => [x.id, i]));
  const results = all.map((rf) => {
    const f = rf.finding;
    const where = describeLocation(f);
    const obj =
      f.object.kind === 'File'
        ? ''
        : redactSecrets(
            `${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name ?? '?'}: `,
          );
    const physical: Record<string, unknown> = {
      artifactLocation: { uri: fileUri(f.object.file ?? '') },
    };
    const reg = region(rf.line, rf.column);
    if (reg) physical.region = reg;
    return {
      ruleId: f.ruleId,
      ruleIndex: index.get(f.ruleId),
      // the level under the mode: in warn/audit nothing is an error, as in the webhook
      level: LEVEL[rf.outcome],
      message: { text: `${obj}${where ? `${where}: ` : ''}${f.message} Fix: ${f.fix}` },
      locations: [{ physicalLocation: physical }],
      properties: {
        severity: f.severity,
        mode: rf.mode,
        ...(f.token !== undefined ? { token: f.token } : {}),
      },
    };
  });
  const notifications = r.files
    .filter((f) => f.status === 'error')
    .map((f) => {
      const physical: Record<string, unknown> = { artifactLocation: { uri: fileUri(f.file) } };
      const reg = region(f.line, f.column);
      if (reg) physical.region = reg;
      return {
        level: 'error',
        message: { text: f.reason ?? 'error' },
        locations: [{ physicalLocation: physical }],
      };
    });
  const sarif = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'gitlab-runner-admission',
            version: toolVersion,
            rules: rules.map((x) => ({
              id: x.id,
              name: x.id,
              shortDescription: { text: x.title },
              defaultConfiguration: { level: LEVEL[x.severity] },
              properties: { severity: x.severity },
            })),
          },
        },
        invocations: [
          {
            executionSuccessful: r.summary.errors === 0,
            exitCode: r.exitCode,
            toolExecutionNotifications: notifications,
          },
        ],
        results,
      },
    ],
  };
  return JSON.stringify(sarif, null, 2) + '\n';
}

export type Format = 'text' | 'json' | 'sarif';

/** The report in a machine format, or undefined for text (which the CLI formats itself). */
export function formatMachine(
  r: CheckReport,
  format: Format,
  toolVersion: () => string,
): string | undefined {
  if (format === 'json') return formatJson(r);
  if (format === 'sarif') return formatSarif(r, toolVersion());
  return undefined;
}
