import { posix } from 'node:path';
import { HEADER_ERE } from './split.js';

/**
 * The POSIX sh program the injected `register-runner` initContainer runs. It needs only
 * /bin/sh, sed, grep, tr and the gitlab-runner binary, all present in every gitlab-runner image
 * (alpine, ubuntu, ubi). It:
 *  1. does nothing when this pod registered already (init containers re-run when a pod's
 *     sandbox restarts, and the emptyDir survives that: registering again would create another
 *     runner with a registration token);
 *  2. picks the flow from the token env: CI_SERVER_TOKEN (authentication token: `register`
 *     only verifies it) wins over REGISTRATION_TOKEN (creates a runner), facts §2;
 *  3. splits the mounted config.toml into its global part and one template per [[runners]]
 *     (split.ts mirrors this and the webhook checks it on the config it read);
 *  4. writes the global part to the writable config, then runs `register --template-config`
 *     once per runner, which appends to it (so `concurrent`, `check_interval`, … survive);
 *  5. on failure with a registration token, unregisters what it registered (else each retry of
 *     the init container would leave a runner behind in GitLab).
 * The token never appears in the script or on a command line: register reads it from env.
 */

/** sh single-quoting: safe for any string. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'"'"'`)}'`;
}

/** First comment line of the script: how the webhook recognises its own init step. */
export const SCRIPT_MARK = '# Injected by gitlab-runner-admission';
export const DONE_MARKER = '.gra-registered';
export const UNREGISTER_MARKER = '.gra-unregister-on-stop';
export const WORK_DIR = '.gra-split';

export interface ScriptParams {
  /** the config `run` reads, now on the writable volume */
  configPath: string;
  /** the user's config.toml as mounted (read-only) in the init container */
  templatePath: string;
  /** e.g. `Secret gitlab-runner-tokens`: only for the error message */
  tokenSourceText: string;
}

/**
 * A path for the first comment line: one line, printable. A newline would end the comment and
 * make the rest of the name a command (the name comes from the ConfigMap volume's `items.path`
 * and `run --config`, which anyone who can create the workload writes).
 */
function commentText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}

function sedValue(key: string): string {
  // line 1 is the [[runners]] header; stop at the first sub-table; first `key = "…"` wins
  return `sed -n -e '1d' -e '/^[[:space:]]*\\[/q' -e 's/^[[:space:]]*${key}[[:space:]]*=[[:space:]]*"\\([^"]*\\)".*$/\\1/p' "$t" | head -n 1`;
}

export function registerScript(p: ScriptParams): string {
  const config = shq(p.configPath);
  const dir = posix.dirname(p.configPath);
  const work = shq(posix.join(dir, WORK_DIR));
  const done = shq(posix.join(dir, DONE_MARKER));
  const unreg = shq(posix.join(dir, UNREGISTER_MARKER));
  const tpl = shq(p.templatePath);
  const src = p.tokenSourceText.replace(/[^A-Za-z0-9 ._/:-]/g, '');
  // Paths reach the shell only single-quoted (shq) in assignments; messages print "$CONFIG" and
  // "$TEMPLATE" with printf %s (the shell never re-parses a value; dash's echo would expand \\).
  return `set -eu
${SCRIPT_MARK}: registers the [[runners]] of ${commentText(p.templatePath)} into ${commentText(p.configPath)}.
CONFIG=${config}
TEMPLATE=${tpl}
if [ -f ${done} ]; then
  printf 'register-runner: this pod registered already, keeping %s\n' "$CONFIG"
  exit 0
fi
if [ -n "\${CI_SERVER_TOKEN:-}" ]; then
  unset REGISTRATION_TOKEN
  FLOW=authentication
elif [ -n "\${REGISTRATION_TOKEN:-}" ]; then
  unset CI_SERVER_TOKEN
  FLOW=registration
else
  echo "register-runner: no token: ${src} has no non-empty runner-token or runner-registration-token" >&2
  exit 1
fi
ok=0
cleanup() {
  if [ "$ok" != 1 ] && [ "$FLOW" = registration ] && grep -q '^[[:space:]]*\\[\\[runners\\]\\]' ${config} 2>/dev/null; then
    echo "register-runner: failed; unregistering the runners this attempt created" >&2
    gitlab-runner unregister --all-runners --config ${config} || true
  fi
}
trap cleanup EXIT
rm -rf ${work}
mkdir -p ${work}
: > ${work}/globals.toml
last=$(sed -n '$=' ${tpl})
headers=$(grep -nE ${shq(HEADER_ERE)} ${tpl} || true)
cur=globals
start=1
n=0
flush() {
  if [ "$1" -le "$2" ]; then sed -n "$1,$2p" ${tpl} >> ${work}/"$cur".toml; fi
}
while IFS=: read -r num text; do
  [ -n "$num" ] || continue
  h=$(printf '%s' "$text" | tr -d ' \\t\\r')
  brk=0
  case "$h" in
    '[[runners]]'*) n=$((n + 1)); next="runner-$n"; brk=1 ;;
    '[runners.'*|'[[runners.'*) next=$cur ;;
    *) next=globals ;;
  esac
  if [ "$brk" = 1 ] || [ "$next" != "$cur" ]; then
    flush "$start" $((num - 1))
    cur=$next
    start=$num
  fi
done <<EOF
$headers
EOF
flush "$start" "\${last:-0}"
if [ "$n" -eq 0 ]; then
  printf 'register-runner: %s has no [[runners]]\n' "$TEMPLATE" >&2
  exit 1
fi
cat ${work}/globals.toml > ${config}
i=0
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  t=${work}/runner-$i.toml
  url=$(${sedValue('url')})
  executor=$(${sedValue('executor')})
  name=$(${sedValue('name')})
  if [ -z "$url" ] || [ -z "$executor" ]; then
    printf 'register-runner: [[runners]] #%s of %s needs url and executor\n' "$i" "$TEMPLATE" >&2
    exit 1
  fi
  echo "register-runner: [[runners]] #$i at $url ($FLOW token)"
  gitlab-runner register --non-interactive --config ${config} --template-config "$t" --url "$url" --executor "$executor" --name "\${name:-\${HOSTNAME:-gitlab-runner}}"
done
ok=1
if [ "$FLOW" = registration ]; then : > ${unreg}; fi
rm -rf ${work}
: > ${done}
printf 'register-runner: %s runner(s) registered into %s\n' "$n" "$CONFIG"
`;
}

/** preStop for the runner container: unregister only what this pod registered with a registration token. */
export function preStopCommand(configPath: string): string[] {
  const dir = posix.dirname(configPath);
  return [
    '/bin/sh',
    '-c',
    `if [ -f ${shq(posix.join(dir, UNREGISTER_MARKER))} ]; then gitlab-runner unregister --all-runners --config ${shq(configPath)}; fi`,
  ];
}
