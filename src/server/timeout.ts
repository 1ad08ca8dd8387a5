/**
 * The apiserver appends `?timeout=<duration>` (Go duration, e.g. `10s`) to the webhook URL:
 * after that it gives up and applies failurePolicy. Decide well before it.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export function parseTimeout(raw: unknown): number | undefined {
  if (typeof raw !== 'string' || raw.length > 32) return undefined;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(raw); m; m = re.exec(raw)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    matched = re.lastIndex;
  }
  return matched === raw.length && matched > 0 ? total : undefined;
}

/** Leave a margin for the response to travel back; never spend more than the process budget. */
export function reviewDeadline(
  now: number,
  budgetMs: number,
  timeoutMs: number | undefined,
): number {
  const fromApiserver =
    timeoutMs === undefined ? Infinity : Math.max(timeoutMs * 0.8, timeoutMs - 1000);
  return now + Math.max(0, Math.min(budgetMs, fromApiserver));
}
