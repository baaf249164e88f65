import type { Server } from 'node:http';

/** The listing file the server answers at /.manifest (the http under-storage's options.manifest). */
export const MANIFEST: string;
/** The bytes the server serves for `path` of `size` bytes. */
export function fileContent(path: string, size: number): Buffer;
/** Validates a files map ({"/path": size}); throws naming the bad entry. */
export function checkFiles(files: unknown): [string, number][];
/** The server (not yet listening). */
export function createDataServer(files: Record<string, number>): Server;
