/**
 * `gitlab-runner-admission certs`: a CA and a serving certificate for the webhook Service, for
 * clusters without cert-manager and for `certMode: files`. The caBundle goes to stdout alone so
 * `CA_BUNDLE=$(gitlab-runner-admission certs ...)` works; everything else goes to stderr.
 */
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateWebhookCerts, serviceDnsNames } from '../certs/generate.js';

const FILES = ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'] as const;

export const HELP = `Usage: gitlab-runner-admission certs --service NAME --namespace NS [options]

Generate a CA and a serving certificate for the webhook Service and print the
base64 caBundle (the value of webhooks[*].clientConfig.caBundle) on stdout.

The serving certificate covers NAME, NAME.NS, NAME.NS.svc and
NAME.NS.svc.cluster.local (the apiserver dials NAME.NS.svc and checks SANs only),
plus any --dns / --ip given. RSA 2048, CA valid 10 years, serving cert 1 year.

Options:
  -s, --service NAME     Service name of the webhook (required)
  -n, --namespace NS     namespace of the Service (required)
  -o, --out DIR          directory for ca.crt, ca.key, tls.crt, tls.key (default: certs)
      --dns NAME         extra DNS SAN (repeatable)
      --ip ADDR          extra IP SAN (repeatable)
  -f, --force            overwrite existing files in DIR
  -h, --help             show this help

Example:
  CA_BUNDLE=$(gitlab-runner-admission certs -s gitlab-runner-admission -n gitlab-runner-admission)
  kubectl -n gitlab-runner-admission create secret tls gitlab-runner-admission-tls \\
    --cert=certs/tls.crt --key=certs/tls.key
`;

// Service names are RFC 1035 labels, namespaces RFC 1123 labels (Kubernetes "Object Names and IDs").
const DNS1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

export async function runCerts(argv: string[], io: Io): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        service: { type: 'string', short: 's' },
        namespace: { type: 'string', short: 'n' },
        out: { type: 'string', short: 'o', default: 'certs' },
        dns: { type: 'string', multiple: true, default: [] },
        ip: { type: 'string', multiple: true, default: [] },
        force: { type: 'boolean', short: 'f', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr(`certs: ${err instanceof Error ? err.message : String(err)}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  const problems: string[] = [];
  const service = values.service ?? '';
  const namespace = values.namespace ?? '';
  if (!service) problems.push('--service is required');
  else if (!DNS1035.test(service))
    problems.push(`--service "${service}" is not a valid Service name (RFC 1035 label)`);
  if (!namespace) problems.push('--namespace is required');
  else if (!DNS1123.test(namespace))
    problems.push(`--namespace "${namespace}" is not a valid namespace (RFC 1123 label)`);
  for (const d of values.dns)
    if (!DNS_NAME.test(d)) problems.push(`--dns "${d}" is not a valid DNS name`);
  for (const ip of values.ip) if (!isIP(ip)) problems.push(`--ip "${ip}" is not an IP address`);
  if (problems.length) {
    io.stderr(
      problems.map((p) => `certs: ${p}\n`).join('') +
        '\nRun `gitlab-runner-admission certs --help` for usage.\n',
    );
    return 2;
  }

  const out = values.out;
  const present: string[] = [];
  for (const f of FILES) if (await exists(path.join(out, f))) present.push(f);
  if (present.length && !values.force) {
    io.stderr(
      `certs: refusing to overwrite ${present.join(', ')} in ${out} (pass --force to replace them)\n`,
    );
    return 1;
  }

  const certs = generateWebhookCerts({ service, namespace, dns: values.dns, ips: values.ip });
  await mkdir(out, { recursive: true });
  const contents: Record<(typeof FILES)[number], [string, number]> = {
    'ca.crt': [certs.ca.cert, 0o644],
    'ca.key': [certs.ca.key, 0o600],
    'tls.crt': [certs.serving.cert, 0o644],
    'tls.key': [certs.serving.key, 0o600],
  };
  for (const f of FILES) {
    const [data, mode] = contents[f];
    const dest = path.join(out, f);
    const tmp = `${dest}.${process.pid}.tmp`;
    // write+rename: an overwrite with --force never leaves a half-written key, and rename
    // replaces the mode of a pre-existing file (writeFile's mode only applies on create).
    await writeFile(tmp, data, { mode });
    await rename(tmp, dest);
  }
  const sans = [...serviceDnsNames(service, namespace), ...values.dns, ...values.ip];
  io.stderr(
    `wrote ${FILES.map((f) => path.join(out, f)).join(', ')}\n` +
      `serving certificate SANs: ${sans.join(', ')}\n` +
      `caBundle (base64 of ca.crt) follows on stdout; the webhook needs only tls.crt and tls.key, keep ca.key private\n`,
  );
  io.stdout(certs.caBundle + '\n');
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  return runCerts(argv, {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  });
}
