#!/usr/bin/env node
/**
 * CLI entry: `gitlab-runner-admission <command>`. Each command lives in its own module and is
 * loaded on demand so `check` on a laptop never pulls in fastify or the Kubernetes client.
 */
const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }
> = {
  serve: {
    summary: 'start the admission webhook (what `npm start` runs)',
    load: () => import('./serve.js'),
  },
  check: {
    summary: 'run the webhook rules on files and manifests, offline',
    load: () => import('./check.js'),
  },
  scan: {
    summary: 'run the webhook rules on what is already in a cluster (your kubeconfig)',
    load: () => import('./scan.js'),
  },
  certs: {
    summary: 'generate a CA and a serving certificate for the webhook',
    load: () => import('./certs.js'),
  },
  'create-runner': {
    summary: 'create a runner in GitLab and print a Secret with its authentication token',
    load: () => import('./create-runner.js'),
  },
};

function usage(): string {
  const lines = ['Usage: gitlab-runner-admission <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(14)} ${c.summary}`);
  lines.push('', 'Run `gitlab-runner-admission <command> --help` for the options of one command.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage() + '\n');
    return cmd === undefined ? 2 : 0;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    process.stderr.write(`gitlab-runner-admission: unknown command "${cmd}"\n\n${usage()}\n`);
    return 2;
  }
  const mod = await entry.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve keeps running; it returns -1 to mean "do not exit"
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `gitlab-runner-admission: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 2;
  },
);
