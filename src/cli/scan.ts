/**
 * `gitlab-runner-admission scan`: the webhook's rules on what is already in a cluster. Admission
 * only sees new writes, so objects created before the webhook was installed are never checked;
 * this lists them with the user's kubeconfig (and the user's permissions), resolves references
 * among them like the webhook's lookups, and reports with the same rules, formats and exit codes
 * as `check`. Optionally one wgpolicyk8s.io/v1alpha2 PolicyReport per namespace, printed as YAML
 * to apply, or applied. Documentation: docs/cli.md.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  ApiException,
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubeConfig,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { listObjects, type ListedKind } from '../kube/list.js';
import { isMode, type Mode } from '../settings/settings.js';
import { toolVersion, useColor, type CheckIo } from './check.js';
import { formatMachine, type Format } from './check/machine.js';
import { errorReport } from './check/engine.js';
import { EXIT_ERROR, formatText } from './check/report.js';
import { policyReports, scanObjects } from './scan/report.js';

export const SCAN_HELP = `Usage: gitlab-runner-admission scan [options]

Check what is already in a cluster with the admission webhook's rules: ConfigMaps,
Deployments, StatefulSets, DaemonSets (and Secrets, Pods when asked), listed with your
kubeconfig and your permissions. A Deployment and the ConfigMap it mounts are linked as the
webhook's lookups link them (rule GRA211 and friends). Same output and exit codes as check.

Options:
  -n, --namespace NS   only these namespaces (repeat, or comma-separated); default: all
      --secrets        also read Secrets (chart token keys, configs in Secrets, tokens fed
                       from Secrets); only where you may list them, others are reported
      --pods           also check bare Pods
      --kubeconfig F   kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)
      --context NAME   kubeconfig context
      --page-size N    objects per list call (default 500; limit/continue paging)
  -f, --format FMT     text (default), json, or sarif
  -o, --output FILE    write the --format output to FILE
  -m, --mode MODE      enforce (default), warn or audit, as the webhook's modes
      --strict         warnings fail too (exit 1)
      --policy-report FILE
                       write one PolicyReport (wgpolicyk8s.io/v1alpha2) per namespace as
                       YAML to FILE (- for stdout, instead of the text report)
      --apply-policy-reports
                       create or replace those PolicyReports in the cluster (needs the
                       PolicyReport CRD, e.g. from Kyverno or the wg-policy-prototypes)
  -v, --verbose        also list namespaces without findings and objects skipped
  -h, --help           show this help

Exit codes: 0 nothing denied, 1 deny findings (or warnings with --strict), 2 usage error or
a namespace/kind that could not be listed (the rest is still checked and reported).
A progress line goes to stderr while listing.

Examples:
  gitlab-runner-admission scan
  gitlab-runner-admission scan -n ci,runners --secrets --format sarif -o scan.sarif
  gitlab-runner-admission scan --policy-report - | kubectl apply -f -
`;

export interface ScanIo extends CheckIo {
  /** stderr is a terminal: progress rewrites one line */
  stderrIsTTY: boolean;
  /** injected in tests; default loads the kubeconfig */
  kubeConfig?: KubeConfig;
}

function loadConfig(file: string | undefined, context: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  return kc;
}

async function applyReports(kc: KubeConfig, reports: Record<string, unknown>[]): Promise<string[]> {
  const lines: string[] = [];
  try {
    await kc
      .makeApiClient(ApiextensionsV1Api)
      .readCustomResourceDefinition({ name: 'policyreports.wgpolicyk8s.io' });
  } catch (err) {
    return [
      `policy reports: not applied: ${err instanceof ApiException && err.code === 404 ? 'the PolicyReport CRD (policyreports.wgpolicyk8s.io) is not installed' : `cannot read the PolicyReport CRD (${err instanceof ApiException ? `HTTP ${err.code}` : 'error'})`}`,
    ];
  }
  const api = kc.makeApiClient(CustomObjectsApi);
  for (const body of reports) {
    const md = body.metadata as { name: string; namespace: string };
    const at = {
      group: 'wgpolicyk8s.io',
      version: 'v1alpha2',
      namespace: md.namespace,
      plural: 'policyreports',
    };
    try {
      let existing: { metadata?: { resourceVersion?: string } } | undefined;
      try {
        existing = (await api.getNamespacedCustomObject({
          ...at,
          name: md.name,
        })) as typeof existing;
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 404)) throw err;
      }
      if (existing) {
        const rv = existing.metadata?.resourceVersion;
        await api.replaceNamespacedCustomObject({
          ...at,
          name: md.name,
          body: { ...body, metadata: { ...md, ...(rv ? { resourceVersion: rv } : {}) } },
        });
        lines.push(`policy report ${md.namespace}/${md.name}: replaced`);
      } else {
        await api.createNamespacedCustomObject({ ...at, body });
        lines.push(`policy report ${md.namespace}/${md.name}: created`);
      }
    } catch (err) {
      lines.push(
        `policy report ${md.namespace}/${md.name}: not applied (${err instanceof ApiException ? `HTTP ${err.code}` : err instanceof Error ? err.name : 'error'})`,
      );
    }
  }
  return lines;
}

export async function runScan(argv: string[], io: ScanIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        namespace: { type: 'string', short: 'n', multiple: true },
        secrets: { type: 'boolean', default: false },
        pods: { type: 'boolean', default: false },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'page-size': { type: 'string', default: '500' },
        format: { type: 'string', short: 'f', default: 'text' },
        output: { type: 'string', short: 'o' },
        mode: { type: 'string', short: 'm', default: 'enforce' },
        strict: { type: 'boolean', default: false },
        'policy-report': { type: 'string' },
        'apply-policy-reports': { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr(
      `scan: ${err instanceof Error ? err.message : String(err)}\nRun \`gitlab-runner-admission scan --help\` for usage.\n`,
    );
    return EXIT_ERROR;
  }
  if (values.help) {
    io.stdout(SCAN_HELP);
    return 0;
  }
  const problems: string[] = [];
  const pageSize = Number(values['page-size']);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10000)
    problems.push(`--page-size must be an integer from 1 to 10000, got "${values['page-size']}"`);
  if (!['text', 'json', 'sarif'].includes(values.format))
    problems.push(`--format must be one of text, json, sarif, got "${values.format}"`);
  if (!isMode(values.mode))
    problems.push(`--mode must be one of enforce, warn, audit, got "${values.mode}"`);
  const namespaces = values.namespace
    ?.flatMap((n) => n.split(','))
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (problems.length) {
    io.stderr(
      problems.map((p) => `scan: ${p}\n`).join('') +
        'Run `gitlab-runner-admission scan --help` for usage.\n',
    );
    return EXIT_ERROR;
  }
  let kc: KubeConfig;
  try {
    kc = io.kubeConfig ?? loadConfig(values.kubeconfig, values.context);
  } catch (err) {
    io.stderr(
      `scan: no usable kubeconfig: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}\n`,
    );
    return EXIT_ERROR;
  }
  const kinds: ListedKind[] = [
    'ConfigMap',
    ...(values.secrets ? (['Secret'] as const) : []),
    'Deployment',
    'StatefulSet',
    'DaemonSet',
    ...(values.pods ? (['Pod'] as const) : []),
  ];
  const started = Date.now();
  const counts = new Map<string, number>();
  let progressShown = false;
  const progress = (kind: string, n: number) => {
    counts.set(kind, n);
    const line = `scan: listed ${[...counts.entries()].map(([k, v]) => `${v} ${k}${v === 1 ? '' : 's'}`).join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`;
    // A terminal gets one line rewritten in place; a log gets a line per page, and only for scans that take a while.
    if (io.stderrIsTTY) io.stderr(`\r${line}\x1b[K`);
    else if (Date.now() - started > 2000) io.stderr(`${line}\n`);
    else return;
    progressShown = true;
  };
  let listed;
  try {
    listed = await listObjects(kc, {
      kinds,
      ...(namespaces?.length ? { namespaces } : {}),
      pageSize,
      onPage: progress,
    });
  } catch (err) {
    io.stderr(
      `scan: cannot list objects: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}\n`,
    );
    return EXIT_ERROR;
  }
  if (progressShown && io.stderrIsTTY) io.stderr('\r\x1b[K');
  const mode = values.mode as Mode;
  const { report, checked } = scanObjects(listed.objects, {
    mode,
    strict: values.strict,
    readSecrets: values.secrets,
  });
  // A namespace or kind that could not be listed is an incomplete scan: exit 2, as check does for an unreadable file.
  for (const p of listed.problems) {
    report.files.push(
      errorReport(p.split(':')[0] ?? 'cluster', p.slice(p.indexOf(':') + 1).trim()),
    );
    report.summary.errors++;
    report.exitCode = 2;
  }

  const format = values.format as Format;
  const text = formatText(report, { color: useColor(io), verbose: values.verbose });
  const scanText = text.stdout.replace(
    /^(\d+) files? checked/m,
    (_m, n: string) => `${n} namespace${n === '1' ? '' : 's'} checked`,
  );
  const machine = formatMachine(report, format, toolVersion);
  const write = io.writeFile ?? ((f: string, d: string) => writeFile(f, d));
  const reports =
    values['policy-report'] !== undefined || values['apply-policy-reports']
      ? policyReports(checked)
      : [];
  const reportYaml = reports.map((r) => `---\n${stringify(r)}`).join('');
  try {
    if (values.output !== undefined)
      await write(
        values.output,
        format === 'text'
          ? formatText(report, { color: false, verbose: values.verbose }).stdout
          : (machine ?? ''),
      );
    if (values['policy-report'] !== undefined && values['policy-report'] !== '-')
      await write(values['policy-report'], reportYaml);
  } catch (err) {
    io.stderr(
      `scan: error: cannot write: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}\n`,
    );
    return EXIT_ERROR;
  }
  if (values['policy-report'] === '-') io.stdout(reportYaml);
  else io.stdout(values.output !== undefined ? scanText : (machine ?? scanText));
  io.stderr(text.stderr);
  if (values['apply-policy-reports'])
    for (const l of await applyReports(kc, reports)) io.stderr(`${l}\n`);
  return report.exitCode;
}

export async function run(argv: string[]): Promise<number> {
  return runScan(argv, {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => {
      if (s) process.stderr.write(s);
    },
    readStdin: async () => Buffer.alloc(0),
    isTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
  });
}
