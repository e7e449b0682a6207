// Entry of the WDB's write worker thread: loads the TypeScript worker through tsx, so it works
// however the WDB was started (actors start, vitest, a script under tsx).
import { tsImport } from 'tsx/esm/api';

await tsImport('./write_worker.ts', import.meta.url);
