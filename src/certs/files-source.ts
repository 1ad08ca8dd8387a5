/**
 * files / certManager mode: tls.crt + tls.key mounted from a Secret, reloaded when they change.
 * The kubelet updates a Secret volume atomically: it writes a new timestamped directory, points a
 * `..data_tmp` symlink at it and renames that over `..data`; tls.crt is a symlink into `..data`
 * (kubernetes pkg/volume/util/atomic_writer.go). So the directory gets a rename event, not a write
 * on tls.crt: we watch the directory. fs.watch can miss events (network filesystems, inotify
 * limits) and the kubelet may take a minute to sync, so a poll backs it up.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { PublishingCertSource } from './publishing.js';
import type { CertPair } from './types.js';
import { CertError, checkPair, errMsg, readPairFromDir, type CertInfo } from './validate.js';
import { DAY_MS } from './generate.js';

export interface FileSourceOptions {
  dir: string;
  log: Logger;
  /** backup poll interval; 0 disables (default 10 s) */
  pollMs?: number;
  /** coalesce the burst of events one swap produces (default 50 ms) */
  debounceMs?: number;
  now?: () => Date;
  /** names the cert should cover; a miss is logged, not refused (the webhook may be called by URL) */
  expectHosts?: string[];
}

export type ReloadResult = 'unchanged' | 'updated' | 'rejected';

export class FileCertSource extends PublishingCertSource {
  private watcher?: FSWatcher | undefined;
  private pollTimer?: NodeJS.Timeout;
  private debounceTimer?: NodeJS.Timeout;
  private chain: Promise<ReloadResult> = Promise.resolve('unchanged');
  private lastRejected?: string | undefined;
  private closed = false;

  private constructor(private readonly opts: FileSourceOptions & { now: () => Date }, initial: CertPair) {
    super(initial);
  }

  /** Loads and checks the pair; throws CertError with a one-line reason when it must not be served. */
  static async open(options: FileSourceOptions): Promise<FileCertSource> {
    const opts = { ...options, now: options.now ?? (() => new Date()) };
    const pair = await readPairFromDir(opts.dir);
    const info = checkPair(pair, { now: opts.now(), labels: labels(opts.dir) });
    const src = new FileCertSource(opts, pair);
    src.logLoaded(info, 'serving certificate loaded');
    src.start();
    return src;
  }

  ready(): boolean {
    return !this.closed;
  }

  /** Re-read the files; serialized so a watch event and a poll never race. */
  reload(): Promise<ReloadResult> {
    this.chain = this.chain.then(
      () => this.doReload(),
      () => this.doReload(),
    );
    return this.chain;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    await this.chain.catch(() => undefined);
  }

  private start(): void {
    const { dir, log } = this.opts;
    try {
      this.watcher = watch(dir, () => this.schedule());
      this.watcher.on('error', (err) => {
        log.warn({ event: 'tls-watch-error', dir, err: errMsg(err) }, 'certificate directory watch failed; relying on polling');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      log.warn({ event: 'tls-watch-error', dir, err: errMsg(err) }, 'cannot watch certificate directory; relying on polling');
    }
    const pollMs = this.opts.pollMs ?? 10_000;
    if (pollMs > 0) {
      this.pollTimer = setInterval(() => void this.reload(), pollMs);
      this.pollTimer.unref();
    }
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.reload(), this.opts.debounceMs ?? 50);
    this.debounceTimer.unref();
  }

  private async doReload(): Promise<ReloadResult> {
    if (this.closed) return 'unchanged';
    const { dir, log } = this.opts;
    let next: CertPair;
    try {
      next = await readPairFromDir(dir);
    } catch (err) {
      return this.reject(errMsg(err), `read:${errMsg(err)}`);
    }
    if (next.cert === this.pair.cert && next.key === this.pair.key) return 'unchanged';
    let info: CertInfo;
    try {
      info = checkPair(next, { now: this.opts.now(), labels: labels(dir) });
    } catch (err) {
      // Mid-swap by a non-atomic writer the key and cert can disagree for a moment; the next
      // event or poll retries. Either way the old pair keeps serving.
      return this.reject(err instanceof CertError ? err.message : errMsg(err), next.cert + next.key);
    }
    this.lastRejected = undefined;
    this.logLoaded(info, 'serving certificate reloaded');
    this.publish(next, log);
    return 'updated';
  }

  private reject(reason: string, fingerprint: string): ReloadResult {
    // Log a broken pair once, not on every poll.
    if (this.lastRejected !== fingerprint) {
      this.opts.log.error({ event: 'tls-reload-rejected', dir: this.opts.dir, reason }, `new certificate rejected, keeping the current one: ${reason}`);
      this.lastRejected = fingerprint;
    }
    return 'rejected';
  }

  private logLoaded(info: CertInfo, msg: string): void {
    const { log, expectHosts } = this.opts;
    const fields = {
      event: 'tls-loaded',
      serial: info.serial,
      notAfter: info.notAfter.toISOString(),
      dnsNames: info.dnsNames,
    };
    log.info(fields, msg);
    const left = info.notAfter.getTime() - this.opts.now().getTime();
    if (left < 7 * DAY_MS) log.warn({ ...fields, event: 'tls-expiring' }, `serving certificate expires on ${fields.notAfter}`);
    for (const h of expectHosts ?? []) {
      if (!info.dnsNames.includes(h) && !info.ips.includes(h)) {
        log.warn({ ...fields, event: 'tls-san-missing', host: h }, `serving certificate does not cover ${h}; the apiserver will refuse it when calling the Service`);
      }
    }
  }
}

function labels(dir: string): { cert: string; key: string } {
  return { cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
}
