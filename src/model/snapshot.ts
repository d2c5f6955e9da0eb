/** snapshot.json: what a snapshot directory holds, written at start and rewritten at close. */
import { z } from 'zod';
import { SNAPSHOT_FORMAT_VERSION } from './snapshot-version.ts';

export { SNAPSHOT_FORMAT_VERSION };

export const snapshotMetaSchema = z.object({
  formatVersion: z.literal(SNAPSHOT_FORMAT_VERSION),
  id: z.string().min(1),
  name: z.string().min(1),
  /** RFC 3339 time the snapshot was created. */
  created: z.string(),
  /** `recording` until closed cleanly; a snapshot left `recording` was cut off (crash, kill -9). */
  status: z.enum(['recording', 'complete']),
  services: z.array(z.string()),
  counts: z.object({
    exchanges: z.number().int().nonnegative(),
    inbound: z.number().int().nonnegative(),
    outbound: z.number().int().nonnegative(),
    /** Exchanges the recorder had to drop (queue full or sink failure). */
    dropped: z.number().int().nonnegative(),
  }),
  /** RFC 3339 times of the first and last exchange, when there is one. */
  timeRange: z.object({ first: z.string(), last: z.string() }).optional(),
  segments: z.array(z.string()),
  /** Where the snapshot came from: `record`, `import:har`, `import:ndjson`. */
  source: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
});
export type SnapshotMeta = z.infer<typeof snapshotMetaSchema>;
