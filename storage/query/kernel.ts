// Fused per-chunk aggregation kernels. Each accumulator that can (count, sum, min, max over
// float/int/long/temporal columns) contributes one per-row statement; the statements of a query
// are compiled together into one loop per chunk, so a row's group index is read once and each
// column once, with no call or closure per row and typed-array element types fixed per call site
// (the generated source names its element types, so a kernel only ever sees one type per array).
// Kernels are cached by source: every query of the same shape runs the same optimised code.
//
// The statements are fixed templates in this codebase (storage/query/memory.ts); no part of a
// request (column names, values) is ever spliced into the source.

/** One accumulator's share of a fused kernel. */
export interface KernelPart {
  /**
   * Per-row statement. `$0`, `$1`, ... are the arrays from bind(), `g` the row's group index and
   * `r` its offset in the chunk. It runs in its own block; `$s` is a per-part scalar local.
   */
  row: string;
  /** Before the loop (e.g. `let $s = 0;`). */
  decl?: string;
  /** After the loop (e.g. `$2[0] = $s;`). */
  post?: string;
  /** The arrays for chunk k (state arrays re-read per chunk: they grow as groups appear). */
  bind(k: number, len: number): ArrayLike<unknown>[];
  /** Runs after the kernel has processed chunk k. */
  after?(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array): void;
}

/** (groupIds, selected offsets or null for all rows, selected count, chunk length, bound arrays). */
export type Kernel = (g: Int32Array, rows: Int32Array | null, n: number, len: number, args: ArrayLike<unknown>[]) => void;

const cache = new Map<string, Kernel>();

function subst(code: string, p: number): string {
  return code.replace(/\$(\d+|s)/g, (_m, x: string) => (x === 's' ? `s${p}` : `a${p}_${x}`));
}

/** Generated source for the parts (exported for tests and for reading). */
export function kernelSource(parts: readonly Pick<KernelPart, 'row' | 'decl' | 'post'>[], arity: readonly number[]): string {
  const binds: string[] = [];
  let at = 0;
  parts.forEach((_, p) => {
    for (let j = 0; j < arity[p]!; j++) binds.push(`const a${p}_${j} = A[${at++}];`);
  });
  const decls = parts.map((q, p) => (q.decl ? subst(q.decl, p) : '')).filter(Boolean);
  const body = parts.map((q, p) => `{ ${subst(q.row, p)} }`).join('\n      ');
  const posts = parts.map((q, p) => (q.post ? subst(q.post, p) : '')).filter(Boolean);
  return [
    `'use strict';`,
    `return function fusedKernel(G, rows, n, len, A) {`,
    `  ${binds.join('\n  ')}`,
    `  ${decls.join('\n  ')}`,
    `  if (rows === null) {`,
    `    for (let r = 0; r < len; r++) {`,
    `      const g = G[r];`,
    `      ${body}`,
    `    }`,
    `  } else {`,
    `    for (let j = 0; j < n; j++) {`,
    `      const r = rows[j];`,
    `      const g = G[r];`,
    `      ${body}`,
    `    }`,
    `  }`,
    `  ${posts.join('\n  ')}`,
    `};`,
  ].join('\n');
}

/** Compiles (or finds) the fused kernel for parts whose bind() returns `arity[p]` arrays. */
export function compileKernel(parts: readonly KernelPart[], arity: readonly number[]): Kernel {
  const src = kernelSource(parts, arity);
  let k = cache.get(src);
  if (!k) {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    k = new Function(src)() as Kernel;
    cache.set(src, k);
  }
  return k;
}

/** Runs the parts over chunks: binds, calls the one compiled loop, then each part's after(). */
export class FusedScan {
  private kernel: Kernel | undefined;
  private arity: number[] = [];
  private readonly args: ArrayLike<unknown>[] = [];
  constructor(private readonly parts: readonly KernelPart[]) {}

  get empty(): boolean {
    return this.parts.length === 0;
  }

  run(k: number, len: number, rows: Int32Array | null, n: number, g: Int32Array): void {
    const args = this.args;
    args.length = 0;
    const first = this.kernel === undefined;
    for (const p of this.parts) {
      const b = p.bind(k, len);
      if (first) this.arity.push(b.length);
      for (const a of b) args.push(a);
    }
    if (first) this.kernel = compileKernel(this.parts, this.arity);
    this.kernel!(g, rows, n, len, args);
    for (const p of this.parts) p.after?.(k, len, rows, n, g);
  }
}
