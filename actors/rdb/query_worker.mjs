// Entry of an RDB query-pool worker thread: loads the TypeScript worker through tsx, so the pool
// works however the RDB was started (actors start, vitest, a script under tsx).
import { tsImport } from 'tsx/esm/api';

await tsImport('./query_worker.ts', import.meta.url);
