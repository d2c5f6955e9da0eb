/** HAR 1.2 both ways. */
export {
  exchangesToHar,
  exchangeToHarEntry,
  harJsonChunks,
  harLogHead,
  type HarExportOptions,
  type HarExportResult,
} from './export.ts';
export { harToExchanges, isHar, type HarImportOptions, type HarImportResult, type HarSkip } from './import.ts';
export type { Har, HarEntry, HarLog, TapwireEntryExtension } from './types.ts';
