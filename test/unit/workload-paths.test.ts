import t from 'tap';
import fc from 'fast-check';
import { posix } from 'node:path';
import { resolvePath, normalizePath, type MountInfo } from '../../src/workload/index.js';

/**
 * resolvePath finds the mount a path lands on through a tree of path segments once a container
 * has many mounts (issue 14: a `cp` of 16,000 operands with 10,000 mounts was 160 million
 * comparisons). It must pick exactly what the plain scan picks: the longest mount path that is
 * the path or a parent of it, the first in spec order on a tie.
 */

function scan(path: string, mounts: MountInfo[]): { mount?: number; volumePath?: string } {
  const p = normalizePath(path);
  let best: MountInfo | undefined;
  for (const m of mounts) {
    if (p === m.mountPath || p.startsWith(m.mountPath === '/' ? '/' : `${m.mountPath}/`)) {
      if (!best || m.mountPath.length > best.mountPath.length) best = m;
    }
  }
  if (!best) return {};
  const rel =
    p === best.mountPath ? '' : p.slice(best.mountPath.length + (best.mountPath === '/' ? 0 : 1));
  return { mount: best.index, volumePath: [best.subPath, rel].filter((s) => s).join('/') };
}

const seg = fc.constantFrom('etc', 'gitlab-runner', 'a', 'b', 'config.toml', '..', '.', '');
const pathArb = fc
  .tuple(fc.boolean(), fc.array(seg, { maxLength: 5 }))
  .map(([abs, segs]) => (abs ? '/' : '') + segs.join('/'));

t.test('the segment tree picks what the scan picks, for many mounts', async (t) => {
  await fc.assert(
    fc.property(
      fc.array(fc.tuple(pathArb, fc.option(fc.constantFrom('sub', 'x/y'))), {
        minLength: 17,
        maxLength: 40,
      }),
      fc.array(pathArb, { maxLength: 20 }),
      (ms, paths) => {
        const mounts: MountInfo[] = ms.map(([p, sub], index) => ({
          index,
          name: `v${index}`,
          mountPath: normalizePath(p || '/'),
          readOnlyFlag: false,
          readOnly: false,
          field: '',
          ...(sub ? { subPath: sub } : {}),
        }));
        for (const p of [...paths, ...mounts.map((m) => posix.join(m.mountPath, 'config.toml'))]) {
          const got = resolvePath(p, mounts);
          const want = scan(p, mounts);
          if (
            got.mount?.index !== want.mount ||
            (want.mount !== undefined && got.volumePath !== want.volumePath)
          ) {
            throw new Error(
              `${p}: got ${got.mount?.index}/${got.volumePath}, want ${want.mount}/${want.volumePath}`,
            );
          }
        }
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
