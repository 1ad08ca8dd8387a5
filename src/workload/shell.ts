/**
 * Just enough POSIX sh parsing to find the gitlab-runner calls, copies and redirections in a
 * container's `sh -c` script. Not an interpreter: no expansion, no control flow; keywords
 * (`if`, `then`, `do`, braces) are dropped so the commands inside them are still seen.
 * Pure.
 */

export interface Word {
  /** value after quote removal; `$VAR`, `${VAR}`, `$(…)` are kept as written */
  text: string;
  /** true when any part of the word was quoted */
  quoted: boolean;
}

export interface Redirect {
  op: string; // '>', '>>', '<', '>&', …
  target: string;
}

export interface SimpleCommand {
  words: Word[];
  /** leading `NAME=value` words */
  assignments: { name: string; value: string }[];
  redirects: Redirect[];
  /** operator that ended it: ';', '&&', '||', '|', '&', '\n', or '' at end of script */
  end: string;
}

const KEYWORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'while',
  'until',
  'for',
  'case',
  'esac',
  '!',
  '{',
  '}',
  'in',
]);

/** Read a `$(…)` / `${…}` / `` `…` `` from `s` at `i` (pointing at `$` or backtick); returns end index (exclusive). */
function readExpansion(s: string, i: number): number {
  if (s[i] === '`') {
    let j = i + 1;
    while (j < s.length && s[j] !== '`') j += s[j] === '\\' ? 2 : 1;
    return Math.min(j + 1, s.length);
  }
  const open = s[i + 1];
  const close = open === '(' ? ')' : '}';
  let depth = 0;
  let j = i + 1;
  while (j < s.length) {
    const c = s[j];
    if (c === '\\') {
      j += 2;
      continue;
    }
    if (c === "'" && open === '(') {
      const e = s.indexOf("'", j + 1);
      j = e < 0 ? s.length : e + 1;
      continue;
    }
    if (c === '"' && open === '(') {
      j++;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      j++;
      continue;
    }
    if (c === open) depth++;
    else if (c === close) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return s.length;
}

/** Split a script into simple commands. Never throws; unbalanced quotes run to the end. */
export function parseScript(script: string): SimpleCommand[] {
  const out: SimpleCommand[] = [];
  let words: Word[] = [];
  let redirects: Redirect[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  let pendingRedirect: string | undefined;
  const heredocs: { delim: string; strip: boolean }[] = [];
  let pendingHeredoc: boolean | undefined; // strip flag while waiting for the delimiter word

  const endWord = (): void => {
    if (!inWord) return;
    const w: Word = { text: cur, quoted };
    if (pendingHeredoc !== undefined) {
      heredocs.push({ delim: cur, strip: pendingHeredoc });
      pendingHeredoc = undefined;
    } else if (pendingRedirect !== undefined) {
      redirects.push({ op: pendingRedirect, target: cur });
      pendingRedirect = undefined;
    } else words.push(w);
    cur = '';
    inWord = false;
    quoted = false;
  };
  const endCommand = (op: string): void => {
    endWord();
    pendingRedirect = undefined;
    // drop shell keywords and subshell/group markers in front of the command
    let k = 0;
    while (k < words.length && !words[k]!.quoted && KEYWORDS.has(words[k]!.text)) k++;
    const ws = words
      .slice(k)
      .filter(
        (w, i, arr) =>
          !(
            i === arr.length - 1 &&
            !w.quoted &&
            (w.text === '}' || w.text === 'fi' || w.text === 'done')
          ),
      );
    const assignments: { name: string; value: string }[] = [];
    let a = 0;
    while (a < ws.length) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(ws[a]!.text);
      if (!m) break;
      assignments.push({ name: m[1]!, value: m[2]! });
      a++;
    }
    if (ws.length > 0 || redirects.length > 0)
      out.push({ words: ws.slice(a), assignments, redirects, end: op });
    words = [];
    redirects = [];
  };

  const s = script;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\') {
      if (s[i + 1] === '\n') {
        i += 2; // line continuation
        continue;
      }
      if (s[i + 1] === '\r' && s[i + 2] === '\n') {
        i += 3;
        continue;
      }
      inWord = true;
      cur += s[i + 1] ?? '';
      i += 2;
      continue;
    }
    if (c === "'") {
      const e = s.indexOf("'", i + 1);
      const end = e < 0 ? s.length : e;
      cur += s.slice(i + 1, end);
      inWord = true;
      quoted = true;
      i = end + 1;
      continue;
    }
    if (c === '"') {
      inWord = true;
      quoted = true;
      let j = i + 1;
      while (j < s.length && s[j] !== '"') {
        const d = s[j]!;
        if (d === '\\') {
          const n = s[j + 1];
          if (n === '\n') j += 2;
          else if (n === '"' || n === '\\' || n === '$' || n === '`') {
            cur += n;
            j += 2;
          } else {
            cur += d;
            j++;
          }
          continue;
        }
        if ((d === '$' && (s[j + 1] === '(' || s[j + 1] === '{')) || d === '`') {
          const e = readExpansion(s, j);
          cur += s.slice(j, e);
          j = e;
          continue;
        }
        cur += d;
        j++;
      }
      i = j + 1;
      continue;
    }
    if ((c === '$' && (s[i + 1] === '(' || s[i + 1] === '{')) || c === '`') {
      const e = readExpansion(s, i);
      cur += s.slice(i, e);
      inWord = true;
      i = e;
      continue;
    }
    if (c === '#' && !inWord) {
      while (i < s.length && s[i] !== '\n') i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      endWord();
      i++;
      continue;
    }
    if (c === '\n') {
      endCommand('\n');
      i++;
      // bodies of here-documents started on the line just ended
      while (heredocs.length > 0) {
        const h = heredocs.shift()!;
        while (i < s.length) {
          const nl = s.indexOf('\n', i);
          const lineEnd = nl < 0 ? s.length : nl;
          const line = s.slice(i, lineEnd);
          i = lineEnd + 1;
          if ((h.strip ? line.replace(/^\t+/, '') : line) === h.delim) break;
        }
      }
      continue;
    }
    if (c === ';') {
      endCommand(s[i + 1] === ';' ? ';;' : ';');
      i += s[i + 1] === ';' ? 2 : 1;
      continue;
    }
    if (c === '&' && s[i + 1] === '&') {
      endCommand('&&');
      i += 2;
      continue;
    }
    if (c === '|' && s[i + 1] === '|') {
      endCommand('||');
      i += 2;
      continue;
    }
    if (c === '|') {
      endCommand('|');
      i++;
      continue;
    }
    if (c === '&' && s[i + 1] !== '>') {
      endCommand('&');
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      // `f() {` function definitions and subshells: the commands inside still count
      endCommand(c === '(' ? '' : ')');
      i++;
      continue;
    }
    if (c === '>' || c === '<' || (c === '&' && s[i + 1] === '>')) {
      // a bare number right before the operator is a file descriptor, not a word
      if (inWord && !quoted && /^\d+$/.test(cur)) {
        cur = '';
        inWord = false;
      } else endWord();
      let op = c;
      let j = i + 1;
      while (j < s.length && '<>&|-'.includes(s[j]!) && op.length < 3) {
        op += s[j];
        j++;
      }
      i = j;
      if (op === '<<' || op === '<<-') {
        pendingHeredoc = op === '<<-';
        // the delimiter may be quoted; quote removal happens in the word reader
        continue;
      }
      pendingRedirect = op;
      continue;
    }
    cur += c;
    inWord = true;
    i++;
  }
  endCommand('');
  return out;
}

/** A word that is exactly one variable reference: `$VAR`, `${VAR}` or `$(VAR)` (Kubernetes syntax). */
export function variableOf(text: string): string | undefined {
  const m =
    /^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\}|\(([A-Za-z_][A-Za-z0-9_]*)\))$/.exec(
      text,
    );
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

/** True when the text contains any expansion, so its value is not known from the manifest. */
export function hasExpansion(text: string): boolean {
  return /\$[A-Za-z_{(]|`/.test(text);
}

const SHELLS = new Set(['sh', 'bash', 'ash', 'dash', 'zsh', 'ksh', 'busybox']);

export function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

export function isShell(word: string): boolean {
  return SHELLS.has(basename(word));
}

/**
 * For an argv that starts a shell, the inline script (`sh -c SCRIPT`, `bash -ec SCRIPT`,
 * `busybox sh -c …`) or the script file (`bash /scripts/entrypoint`).
 */
export function shellInvocation(
  argv: string[],
): { script: string } | { file: string } | { stdin: true } | undefined {
  if (argv.length === 0 || !isShell(argv[0]!)) return undefined;
  let i = 1;
  if (basename(argv[0]!) === 'busybox') {
    if (!argv[1] || !isShell(argv[1])) return undefined;
    i = 2;
  }
  let inline = false;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (/^-[a-zA-Z]+$/.test(a)) {
      if (a.includes('c')) inline = true;
      if (a === '-o') i++; // `-o pipefail`
      continue;
    }
    if (/^\+[a-zA-Z]+$/.test(a) || a.startsWith('--')) continue;
    break;
  }
  const next = argv[i];
  if (inline) return next === undefined ? undefined : { script: next };
  if (next === undefined) return { stdin: true };
  return { file: next };
}

/** Wrappers in front of the real command: `exec`, `env A=B`, `dumb-init --`, `tini --`, `sudo -u x`, … */
export function stripWrappers(words: string[]): string[] {
  let w = words;
  for (let guard = 0; guard < 8 && w.length > 0; guard++) {
    const b = basename(w[0]!);
    if (b === 'exec' || b === 'nohup' || b === 'command' || b === 'time' || b === 'builtin') {
      w = w.slice(1);
      continue;
    }
    if (b === 'env') {
      let i = 1;
      while (i < w.length && (/^-/.test(w[i]!) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[i]!))) i++;
      w = w.slice(i);
      continue;
    }
    if (b === 'dumb-init' || b === 'tini' || b === 'tini-static') {
      let i = 1;
      while (i < w.length && w[i]!.startsWith('-')) {
        i++;
        if (w[i - 1] === '--') break;
      }
      w = w.slice(i);
      continue;
    }
    if (b === 'sudo' || b === 'su-exec' || b === 'gosu') {
      let i = 1;
      if (b === 'sudo') {
        while (i < w.length && w[i]!.startsWith('-')) i += /^-[ugCDhprt]$/.test(w[i]!) ? 2 : 1;
      } else i = 2; // su-exec USER cmd…
      w = w.slice(i);
      continue;
    }
    break;
  }
  return w;
}
