/**
 * The snapshot format version, apart from the schema so that code that only writes snapshots
 * (the capture worker) does not load zod.
 */
export const SNAPSHOT_FORMAT_VERSION = 1;
