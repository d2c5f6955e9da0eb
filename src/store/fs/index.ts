/** The embedded local-directory store. */
export { FsStore, openStore, MIN_ID_PREFIX, type FsStoreOptions } from './store.ts';
export { FsSnapshotWriter, createSnapshotWriter, DEFAULT_SEGMENT_EXCHANGES } from './writer.ts';
export { FsSnapshotHandle, readSegment } from './reader.ts';
export { segmentName, META_FILE, SNAPSHOTS_DIR } from './meta.ts';
