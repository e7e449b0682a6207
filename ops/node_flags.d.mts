export declare const DEFAULT_NODE_FLAGS: readonly string[];
export declare function nodeFlags(env?: Record<string, string | undefined>): string[];
export declare function tsxImport(): string[];
