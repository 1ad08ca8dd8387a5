/**
 * `gitlab-runner-admission create-runner`: the migration path the GRA001/GRA3xx fixes point to.
 * Creates a runner through `POST /api/v4/user/runners` (@gitbeaker/rest `Users.createCIRunner`;
 * GitLab 15.10+, personal access token with the `create_runner` scope) and prints a Kubernetes
 * Secret with its authentication token under `runner-token`, plus an empty
 * `runner-registration-token` (the official chart mounts both keys, facts §4).
 *
 * The new token goes to stdout because that is the command's purpose (pipe it to
 * `kubectl apply -f -`); nothing else ever prints it. The personal access token is read from
 * GITLAB_TOKEN or --token-file only: an argument would land in shell history and in `ps`.
 *
 * Custom CA: gitbeaker uses Node's global fetch and accepts only an undici dispatcher for TLS
 * settings (see src/gitlab/transport.ts), so a private CA is given the Node way:
 * NODE_EXTRA_CA_CERTS=/path/ca.pem, which the global fetch honours (checked on Node 20.20).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Users } from '@gitbeaker/rest';
import { Document } from 'yaml';
import { parseBase, baseUrlOf, displayUrl } from '../gitlab/allowlist.js';

const HELP = `Usage: gitlab-runner-admission create-runner --url URL --type instance|group|project [options]

Creates a runner in GitLab (POST /api/v4/user/runners) and prints a Kubernetes Secret with its
authentication token (runner-token) on stdout, ready for \`kubectl apply -f -\`.

Options:
  --url URL              GitLab base URL, e.g. https://gitlab.example.com
  --type TYPE            instance | group | project
  --group-id N           required with --type group
  --project-id N         required with --type project
  --description D        runner description shown in GitLab
  --tag-list a,b         comma-separated tags
  --run-untagged         let the runner pick up jobs without tags
  --secret-name NAME     name of the Secret (default: gitlab-runner)
  --namespace NS         namespace of the Secret (default: none, kubectl's current namespace)
  --token-file FILE      file holding a personal access token with the create_runner scope
  -h, --help             this text

The personal access token comes from the environment variable GITLAB_TOKEN or from --token-file,
never from an argument (it would end up in shell history and in \`ps\`).
For a GitLab with a private CA, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem.

Example:
  GITLAB_TOKEN=$(cat ~/.gitlab-pat) gitlab-runner-admission create-runner \\
    --url https://gitlab.example.com --type project --project-id 42 \\
    --description "k8s runner" --tag-list k8s,docker \\
    --secret-name gitlab-runner --namespace gitlab-runner | kubectl apply -f -

Exit status: 0 created, 1 GitLab refused or could not be reached, 2 usage error.
`;

const RUNNER_TYPES = {
  instance: 'instance_type',
  group: 'group_type',
  project: 'project_type',
} as const;

class UsageError extends Error {}

/** A DNS-1123 subdomain (Secret names) / label (namespaces): refuse early rather than print a manifest kubectl rejects. */
const DNS_SUBDOMAIN =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface CreateRunnerArgs {
  url: string;
  runnerType: (typeof RUNNER_TYPES)[keyof typeof RUNNER_TYPES];
  groupId?: number;
  projectId?: number;
  description?: string;
  tagList?: string[];
  runUntagged: boolean;
  secretName: string;
  namespace?: string;
  tokenFile?: string;
}

function positiveInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9][0-9]{0,15}$/.test(raw))
    throw new UsageError(`${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

/** Pure: argv → options, or a UsageError whose message never contains a token. */
export function parseCreateRunnerArgs(argv: string[]): CreateRunnerArgs | 'help' {
  // Checked before parseArgs so the refusal is explicit, whatever form the flag takes.
  if (
    argv.some(
      (a) =>
        a === '--token' ||
        a.startsWith('--token=') ||
        a === '-t' ||
        a === '--private-token' ||
        a.startsWith('--private-token='),
    )
  ) {
    throw new UsageError(
      'refusing --token: a token on the command line ends up in shell history and `ps`; set GITLAB_TOKEN or use --token-file FILE',
    );
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        type: { type: 'string' },
        'group-id': { type: 'string' },
        'project-id': { type: 'string' },
        description: { type: 'string' },
        'tag-list': { type: 'string' },
        'run-untagged': { type: 'boolean' },
        'secret-name': { type: 'string' },
        namespace: { type: 'string' },
        'token-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help) return 'help';
  const str = (k: string): string | undefined =>
    typeof values[k] === 'string' ? (values[k] as string) : undefined;

  const url = str('url');
  if (!url)
    throw new UsageError(
      '--url is required (the GitLab base URL, e.g. https://gitlab.example.com)',
    );
  const base = parseBase(url);
  if (!base)
    throw new UsageError(
      `--url must be an http(s) URL without credentials, got ${displayUrl(url)}`,
    );

  const type = str('type');
  if (!type || !(type in RUNNER_TYPES))
    throw new UsageError('--type must be one of instance, group, project');
  const runnerType = RUNNER_TYPES[type as keyof typeof RUNNER_TYPES];
  const groupId = positiveInt('--group-id', str('group-id'));
  const projectId = positiveInt('--project-id', str('project-id'));
  if (type === 'group' && groupId === undefined)
    throw new UsageError('--type group needs --group-id N');
  if (type === 'project' && projectId === undefined)
    throw new UsageError('--type project needs --project-id N');
  if (type !== 'group' && groupId !== undefined)
    throw new UsageError('--group-id only goes with --type group');
  if (type !== 'project' && projectId !== undefined)
    throw new UsageError('--project-id only goes with --type project');

  const secretName = str('secret-name') ?? 'gitlab-runner';
  if (!DNS_SUBDOMAIN.test(secretName))
    throw new UsageError(
      `--secret-name "${secretName}" is not a valid Kubernetes name (lowercase DNS subdomain)`,
    );
  const namespace = str('namespace');
  if (namespace !== undefined && !DNS_LABEL.test(namespace))
    throw new UsageError(
      `--namespace "${namespace}" is not a valid Kubernetes namespace (lowercase DNS label)`,
    );

  const tagRaw = str('tag-list');
  const tagList =
    tagRaw === undefined
      ? undefined
      : tagRaw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);

  const out: CreateRunnerArgs = {
    url: baseUrlOf(base),
    runnerType,
    runUntagged: values['run-untagged'] === true,
    secretName,
  };
  if (groupId !== undefined) out.groupId = groupId;
  if (projectId !== undefined) out.projectId = projectId;
  const description = str('description');
  if (description !== undefined) out.description = description;
  if (tagList !== undefined) out.tagList = tagList;
  if (namespace !== undefined) out.namespace = namespace;
  const tokenFile = str('token-file');
  if (tokenFile !== undefined) out.tokenFile = tokenFile;
  return out;
}

/** The personal access token: --token-file wins over GITLAB_TOKEN. Trailing newline trimmed (`echo` into a file). */
export function readPersonalAccessToken(
  args: Pick<CreateRunnerArgs, 'tokenFile'>,
  env: NodeJS.ProcessEnv,
): string {
  let raw: string | undefined;
  if (args.tokenFile !== undefined) {
    try {
      raw = readFileSync(args.tokenFile, 'utf8');
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'unreadable';
      throw new UsageError(`cannot read --token-file ${args.tokenFile} (${code})`);
    }
  } else {
    raw = env.GITLAB_TOKEN;
  }
  const pat = (raw ?? '').trim();
  if (!pat)
    throw new UsageError(
      'no personal access token: set GITLAB_TOKEN or use --token-file FILE (scope create_runner)',
    );
  if (/\s/.test(pat))
    throw new UsageError(
      'the personal access token has whitespace inside it; check the file or variable',
    );
  // A runner or registration token here is a common mix-up; GitLab would answer a bare 401.
  if (/^glrtr?-|^t[123]_|^GR1348941/.test(pat)) {
    throw new UsageError(
      'that is a runner token, not a personal access token; create one with the create_runner scope (User settings > Access tokens)',
    );
  }
  return pat;
}

/** The Secret manifest. Pure. */
export function secretManifest(p: {
  name: string;
  namespace?: string;
  runnerToken: string;
  runnerId: number;
  url: string;
  tokenExpiresAt?: string | null;
}): string {
  const metadata: Record<string, unknown> = { name: p.name };
  if (p.namespace !== undefined) metadata.namespace = p.namespace;
  metadata.annotations = {
    'gitlab-runner-admission/gitlab-url': p.url,
    'gitlab-runner-admission/runner-id': String(p.runnerId),
    ...(p.tokenExpiresAt ? { 'gitlab-runner-admission/token-expires-at': p.tokenExpiresAt } : {}),
  };
  const doc = new Document({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata,
    type: 'Opaque',
    stringData: {
      'runner-token': p.runnerToken,
      // Empty on purpose: the official chart mounts both keys, and a registration token next to an
      // authentication token is exactly what the webhook denies (facts §4, §5).
      'runner-registration-token': '',
    },
  });
  doc.commentBefore = ` runner ${p.runnerId} created in ${p.url}; apply with: kubectl apply -f -`;
  return doc.toString();
}

interface GitbeakerishError {
  name?: string;
  message?: string;
  cause?: { description?: string; response?: { status?: number } };
}

/** One line, never containing the personal access token. */
function describeApiError(e: unknown, url: string, pat: string): { line: string; code: number } {
  const err = (e ?? {}) as GitbeakerishError;
  const status = err.cause?.response?.status;
  const scrub = (s: string): string =>
    s.split(pat).join('[personal access token]').replace(/\s+/g, ' ').slice(0, 300);
  const detail = scrub(err.cause?.description || err.message || String(e));
  if (status === 401)
    return {
      line: `GitLab at ${url} rejected the personal access token (401): wrong, expired or revoked`,
      code: 1,
    };
  if (status === 403) {
    return {
      line: `GitLab at ${url} refused (403): the token needs the create_runner scope and rights on that group/project (${detail})`,
      code: 1,
    };
  }
  if (status !== undefined)
    return {
      line: `GitLab at ${url} refused to create the runner (HTTP ${status}): ${detail}`,
      code: 1,
    };
  if (err.name === 'GitbeakerTimeoutError')
    return { line: `GitLab at ${url} did not answer in time`, code: 1 };
  // Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, a certificate error) is in `cause`.
  const cause = (e as { cause?: { code?: unknown; message?: unknown } })?.cause;
  const why =
    typeof cause?.code === 'string'
      ? cause.code
      : typeof cause?.message === 'string'
        ? scrub(cause.message)
        : detail;
  const hint = /CERT|SIGNATURE|SELF_SIGNED|ISSUER/.test(why)
    ? ' (private CA? set NODE_EXTRA_CA_CERTS=/path/to/ca.pem)'
    : '';
  return { line: `cannot reach GitLab at ${url}: ${why}${hint}`, code: 1 };
}

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const processIo: Io = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

export async function run(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: Io = processIo,
): Promise<number> {
  let args: CreateRunnerArgs | 'help';
  let pat: string;
  try {
    args = parseCreateRunnerArgs(argv);
    if (args === 'help') {
      io.stdout(HELP);
      return 0;
    }
    pat = readPersonalAccessToken(args, env);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`create-runner: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  // gitbeaker's `host` is the GitLab root; it appends /api/v4 itself (BaseResource constructor).
  const users = new Users({ host: args.url, token: pat, queryTimeout: 30_000 });
  let created: { id: number; token: string; token_expires_at?: string | null };
  try {
    const options: Record<string, unknown> = { runUntagged: args.runUntagged };
    if (args.groupId !== undefined) options.groupId = args.groupId;
    if (args.projectId !== undefined) options.projectId = args.projectId;
    if (args.description !== undefined) options.description = args.description;
    if (args.tagList !== undefined) options.tagList = args.tagList;
    created = (await users.createCIRunner(args.runnerType, options)) as typeof created;
  } catch (e) {
    const { line, code } = describeApiError(e, args.url, pat);
    io.stderr(`create-runner: ${line}\n`);
    return code;
  }
  if (!created || typeof created.token !== 'string' || typeof created.id !== 'number') {
    io.stderr(`create-runner: GitLab at ${args.url} answered without a runner id and token\n`);
    return 1;
  }
  io.stdout(
    secretManifest({
      name: args.secretName,
      ...(args.namespace !== undefined ? { namespace: args.namespace } : {}),
      runnerToken: created.token,
      runnerId: created.id,
      url: args.url,
      tokenExpiresAt: created.token_expires_at ?? null,
    }),
  );
  io.stderr(
    `create-runner: created ${args.runnerType.replace('_type', '')} runner ${created.id} in ${args.url}\n`,
  );
  return 0;
}
