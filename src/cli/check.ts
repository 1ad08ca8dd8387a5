/**
 * `gitlab-runner-admission check PATH...`: the webhook's rules on files, offline (laptop,
 * pre-commit hook, CI job). Same rule ids and message text as the webhook because both call
 * src/rules/evaluate.ts and render with src/findings/format.ts. Streams and stdin are injected
 * so tests run it in-process. Documentation: docs/cli.md.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isMode, type Mode } from '../settings/settings.js';
import { discover, readInput } from './check/discover.js';
import {
  checkPrepared,
  errorReport,
  indexPrepared,
  prepareBytes,
  type CheckOptions,
  type FileReport,
  type Prepared,
} from './check/engine.js';
import { formatMachine, type Format } from './check/machine.js';
import { buildReport, EXIT_ERROR, formatText, type CheckReport } from './check/report.js';

export const HELP = `Usage: gitlab-runner-admission check [options] PATH...

Run the admission webhook's rules on runner configs and Kubernetes manifests, offline,
with the same rule ids and messages the webhook returns.

PATH is a file, a directory (searched recursively, node_modules and .git skipped) or
- for stdin. Checked: *.toml runner configs; YAML manifests (multi-document, List
kinds, helm template / kustomize build output); values files of the official
gitlab-runner chart (by their shape); Flux HelmRelease and Argo CD Application /
ApplicationSet objects of that chart; JSON objects and AdmissionReview bodies.
Objects of one run are linked: a Deployment and the ConfigMap it mounts (same
namespace and name) are judged together, as the webhook's lookups would.
Skipped and counted: template sources (*.tftpl, *.tpl, *.gotmpl, TOML or YAML
with unrendered {{ }} / \${ } / %{ } directives), docker-compose files (not
Kubernetes), and objects that are neither a runner config nor a runner workload
(Services, RBAC, custom resources).

Options:
  -f, --format FMT   text (default), json, or sarif (SARIF 2.1.0 for code scanning)
  -o, --output FILE  write the --format output to FILE; the text report still goes
                     to stdout
  -m, --mode MODE    enforce (default), warn or audit, as the webhook's modes:
                     enforce: deny findings fail; warn/audit: they are warnings.
                     An object's gitlab-runner-admission/mode annotation can make
                     its mode stricter, never looser, as in the webhook.
      --strict       warnings fail too (exit 1)
  -v, --verbose      also list files that passed and why files were skipped
  -h, --help         show this help

Exit codes:
  0  nothing denied (warnings allowed)
  1  deny findings (in enforce mode), or any warning with --strict
  2  usage error, or a file could not be read or parsed (YAML/JSON syntax,
     binary, unreadable); the other files are still checked. Broken TOML in a
     runner config is not an I/O error: it is rule GRA004 (deny).

Colour only when stdout is a terminal and NO_COLOR is not set.

Examples:
  gitlab-runner-admission check config.toml k8s/
  helm template my-runner gitlab/gitlab-runner -f values.yaml | gitlab-runner-admission check -
  kustomize build overlays/prod | gitlab-runner-admission check --mode warn -
  gitlab-runner-admission check --format sarif -o gl-runner-admission.sarif .
`;

export interface CheckIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  readStdin: () => Promise<Buffer>;
  /** stdout is a terminal */
  isTTY: boolean;
  env: Record<string, string | undefined>;
  writeFile?: (file: string, data: string) => Promise<void>;
}

const FORMATS: readonly Format[] = ['text', 'json', 'sarif'];

export function toolVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** https://no-color.org: "when present and not an empty string". */
export function useColor(io: Pick<CheckIo, 'isTTY' | 'env'>): boolean {
  const nc = io.env.NO_COLOR;
  return io.isTTY && (nc === undefined || nc === '');
}

/**
 * Check inputs and build the report; no output. Every input is loaded first so that objects
 * given in one run link up (a Deployment and the ConfigMap it mounts, in one file or across
 * files), as the webhook's lookups would link them in a cluster.
 */
export async function checkPaths(
  paths: readonly string[],
  opts: CheckOptions,
  readStdin: () => Promise<Buffer>,
): Promise<CheckReport> {
  const reports: (FileReport | Prepared)[] = [];
  let stdinUsed = false;
  for (const input of await discover(paths)) {
    if (input.kind === 'error') {
      reports.push(errorReport(input.file, input.message));
      continue;
    }
    let bytes: Buffer;
    if (input.kind === 'stdin') {
      if (stdinUsed) continue; // stdin can be read once; `- -` is one input
      stdinUsed = true;
      try {
        bytes = await readStdin();
      } catch (err) {
        reports.push(
          errorReport(
            input.file,
            `cannot read: ${err instanceof Error ? err.message : String(err)}`,
          ),
        );
        continue;
      }
    } else {
      const r = await readInput(input.file);
      if (!r.ok) {
        reports.push(errorReport(input.file, r.message));
        continue;
      }
      bytes = r.bytes;
    }
    try {
      reports.push(prepareBytes(input.file, bytes));
    } catch (err) {
      reports.push(errorReport(input.file, internalError(err)));
    }
  }
  const prepared = reports.filter((r): r is Prepared => 'loaded' in r);
  const links = indexPrepared(prepared);
  const out: FileReport[] = reports.map((r) => {
    if (!('loaded' in r)) return r;
    try {
      return checkPrepared(r, opts, links);
    } catch (err) {
      // A bug in one rule must not hide the findings of every other file; the message is ours, not file content.
      return errorReport(r.file, internalError(err));
    }
  });
  return buildReport(out, opts.mode, opts.strict);
}

function internalError(err: unknown): string {
  const msg = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
  return `internal error while checking: ${msg.slice(0, 200)}`;
}

export async function runCheck(argv: string[], io: CheckIo): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        format: { type: 'string', short: 'f', default: 'text' },
        output: { type: 'string', short: 'o' },
        mode: { type: 'string', short: 'm', default: 'enforce' },
        strict: { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr(
      `check: ${err instanceof Error ? err.message : String(err)}\nRun \`gitlab-runner-admission check --help\` for usage.\n`,
    );
    return EXIT_ERROR;
  }
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  const problems: string[] = [];
  if (!(FORMATS as readonly string[]).includes(values.format))
    problems.push(`--format must be one of ${FORMATS.join(', ')}, got "${values.format}"`);
  if (!isMode(values.mode))
    problems.push(`--mode must be one of enforce, warn, audit, got "${values.mode}"`);
  if (positionals.length === 0) problems.push('no input: give files, directories, or - for stdin');
  if (problems.length) {
    io.stderr(
      problems.map((p) => `check: ${p}\n`).join('') +
        'Run `gitlab-runner-admission check --help` for usage.\n',
    );
    return EXIT_ERROR;
  }
  const format = values.format as Format;
  const report = await checkPaths(
    positionals,
    { mode: values.mode as Mode, strict: values.strict },
    io.readStdin,
  );

  const text = formatText(report, { color: useColor(io), verbose: values.verbose });
  const machine = formatMachine(report, format, toolVersion);
  if (values.output !== undefined) {
    const plain =
      format === 'text'
        ? formatText(report, { color: false, verbose: values.verbose }).stdout
        : (machine ?? '');
    try {
      await (io.writeFile ?? ((f, d) => writeFile(f, d)))(values.output, plain);
    } catch (err) {
      io.stderr(
        `${values.output}: error: cannot write: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}\n`,
      );
      io.stdout(text.stdout);
      io.stderr(text.stderr);
      return EXIT_ERROR;
    }
    io.stdout(text.stdout);
  } else {
    io.stdout(machine ?? text.stdout);
  }
  // One-line errors go to stderr in every format (json/sarif also carry them in the document).
  io.stderr(text.stderr);
  return report.exitCode;
}

function processIo(): CheckIo {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => {
      if (s) process.stderr.write(s);
    },
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin)
        chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
      return Buffer.concat(chunks);
    },
    isTTY: process.stdout.isTTY === true,
    env: process.env,
  };
}

/** Entry used by src/cli/main.ts. */
export async function run(argv: string[]): Promise<number> {
  return runCheck(argv, processIo());
}
