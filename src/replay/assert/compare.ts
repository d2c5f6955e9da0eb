/**
 * One replayed response judged against its recording: status, the chosen headers, and the body
 * (JSON field by field, text by its first differing line, anything else by size and hash).
 * Every difference goes past the NoiseModel first; the ones it excuses are listed in
 * `Verdict.ignored` with its reason instead of failing the verdict.
 */
import { createHash } from 'node:crypto';
import { protoJson } from '../../mock/signature.ts';
import { bodyText, decodeBody, headerValue } from '../../model/body.ts';
import type { Exchange, GrpcExchange, HttpResponse } from '../../model/exchange.ts';
import { DEFAULT_INFLATE_LIMIT } from '../../protocols/grpc/framing.ts';
import { GrpcDeframer, decodeProtoFields } from '../../protocols/grpc/index.ts';
import type { Difference, ReplayedResponse, Verdict } from '../types.ts';
import { compareHeaders } from './headers.ts';
import { cut, diffJson, jsonBody, parseJson, showJson } from './json-diff.ts';
import { endpointOf, type NoiseModel } from './noise.ts';

export interface CompareOptions {
  /** Headers to compare (any case); default `content-type`. */
  headers?: readonly string[];
  /** The endpoint key the noise model knows this request by; default `endpointOf(recorded)`. */
  endpoint?: string;
  /** How many differences (and ignored ones) a verdict lists; default 50. The counts are exact. */
  limit?: number;
}

export const DIFFERENCE_LIMIT = 50;

export function compareResponse(
  recorded: Exchange,
  replayed: ReplayedResponse,
  noise: NoiseModel,
  options: CompareOptions = {},
): Verdict {
  const v = new VerdictBuilder(noise, options.endpoint ?? endpointOf(recorded), options.limit ?? DIFFERENCE_LIMIT);
  if (recorded.protocol === 'tcp' || !recorded.response) {
    const why = recorded.error ? `(no response: ${recorded.error.kind})` : '(no response)';
    v.add('status', why, String(replayed.status));
    return v.done();
  }
  const res = recorded.response;
  if (res.status !== replayed.status) v.add('status', String(res.status), String(replayed.status));
  for (const d of compareHeaders(res.headers, replayed.headers, options.headers)) {
    if (d.ignoredAs) v.ignore(d.path, d.ignoredAs);
    else v.add(d.path, d.recorded, d.replayed);
  }
  if (recorded.protocol === 'grpc') compareGrpc(v, recorded, replayed);
  else compareBody(v, res, replayed);
  return v.done();
}

/** Collects differences through the noise model, keeping the first `limit` of each kind and exact counts. */
class VerdictBuilder {
  private readonly differences: Difference[] = [];
  private readonly ignored: Array<{ path: string; reason: string }> = [];
  private differenceCount = 0;
  private ignoredCount = 0;

  constructor(
    private readonly noise: NoiseModel,
    private readonly endpoint: string,
    private readonly limit: number,
  ) {}

  /** A difference; `rawRecorded`/`rawReplayed` are the values the noise model judges shapes on. */
  add(
    path: string,
    recorded: string,
    replayed: string,
    rawRecorded: unknown = recorded,
    rawReplayed: unknown = replayed,
  ) {
    const reason = this.noise.ignored(this.endpoint, path, rawRecorded, rawReplayed);
    if (reason !== undefined) this.ignore(path, reason);
    else if (this.differenceCount++ < this.limit) this.differences.push({ path, recorded, replayed });
  }

  ignore(path: string, reason: string): void {
    if (this.ignoredCount++ < this.limit) this.ignored.push({ path, reason });
  }

  done(): Verdict {
    const { differences, differenceCount, ignored, ignoredCount } = this;
    return { pass: differenceCount === 0, differences, differenceCount, ignored, ignoredCount };
  }
}

function compareBody(v: VerdictBuilder, res: HttpResponse, replayed: ReplayedResponse): void {
  const rec = decodeBody(res.body);
  const rep = replayed.body;
  if (res.body?.truncated) {
    comparePrefix(v, rec, res.body.size, rep);
    return;
  }
  const recJson = jsonBody(rec, headerValue(res.headers, 'content-type') ?? res.body?.contentType);
  if (recJson) {
    // The replayed side is parsed whatever it declares: a changed Content-Type is the header's difference.
    const repJson = rep.length > 0 ? parseJson(rep) : undefined;
    if (repJson)
      diffJson(recJson.value, repJson.value, (path, a, b) => v.add(`body.${path}`, showJson(a), showJson(b), a, b));
    else
      v.add(
        'body',
        `JSON, ${rec.length} bytes`,
        rep.length === 0 ? '(empty)' : `not JSON: ${cut(rep.toString('utf8'), 80)}`,
      );
    return;
  }
  if (rec.equals(rep)) return;
  bytesDifference(v, rec, rep, rec.length, rep.length);
}

/**
 * A recorded body cut at the capture cap keeps only its first bytes: only those are compared, and
 * the verdict says so. The replayed body must still be at least as long as the kept part.
 */
function comparePrefix(v: VerdictBuilder, kept: Buffer, size: number, rep: Buffer): void {
  v.ignore('body', `recorded body cut at ${kept.length} of ${size} bytes: only the first ${kept.length} compared`);
  const prefix = rep.subarray(0, kept.length);
  if (kept.equals(prefix)) return;
  bytesDifference(v, kept, prefix, size, rep.length);
}

/** Text shows its first differing line; anything else its size and hash. */
function bytesDifference(v: VerdictBuilder, rec: Buffer, rep: Buffer, recSize: number, repSize: number): void {
  const a = bodyText(rec, recSize);
  const b = bodyText(rep, repSize);
  if (a && b) {
    const d = firstDifference(a.toString('utf8'), b.toString('utf8'));
    v.add('body', d.recorded, d.replayed);
  } else {
    v.add('body', binary(rec, recSize), binary(rep, repSize));
  }
}

function binary(bytes: Buffer, size: number): string {
  if (size === 0) return '(empty)';
  return `${size} bytes, sha256:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
}

/** Context shown before the first differing character of a long line. */
const LEAD = 60;

/** `line 3: <the line>` on each side, or a window around the column when the line is long. */
export function firstDifference(a: string, b: string): { recorded: string; replayed: string } {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  // Both sides agree up to i, so the differing line starts at the same offset in both.
  const start = a.lastIndexOf('\n', i - 1) + 1;
  let line = 1;
  for (let j = a.indexOf('\n'); j !== -1 && j < start; j = a.indexOf('\n', j + 1)) line++;
  const show = (s: string): string => {
    if (start >= s.length && i >= s.length) return `line ${line}: (ends here)`;
    const end = s.indexOf('\n', start);
    const text = s.slice(start, end === -1 ? s.length : end).replace(/\r$/, '');
    if (text.length <= 200) return `line ${line}: ${text}`;
    const from = Math.max(0, i - start - LEAD);
    return `line ${line}, column ${i - start + 1}: ${from > 0 ? '…' : ''}${cut(text.slice(from), 200)}`;
  };
  return { recorded: show(a), replayed: show(b) };
}

/**
 * gRPC: grpc-status, then the response messages decoded without a schema (`body.$[0].2` is field
 * 2 of the first message), so the comparison is per field like JSON.
 */
function compareGrpc(v: VerdictBuilder, recorded: GrpcExchange, replayed: ReplayedResponse): void {
  const recStatus = recorded.grpc.status;
  const repStatus = headerValue(replayed.trailers ?? [], 'grpc-status') ?? headerValue(replayed.headers, 'grpc-status');
  if (recStatus !== undefined && String(recStatus) !== (repStatus ?? '').trim())
    v.add('grpc-status', String(recStatus), repStatus ?? '(missing)');
  const rec = recorded.grpc.messages
    .filter((m) => m.dir === 's2c')
    .map((m) => messageJson(m.fields, decodeBody(m.data)));
  const deframer = new GrpcDeframer({
    dir: 's2c',
    encoding: headerValue(replayed.headers, 'grpc-encoding'),
    keep: DEFAULT_INFLATE_LIMIT,
  });
  const framed = [...deframer.push(replayed.body, 0), ...deframer.end(0)];
  let rep = framed.map((m) => messageJson(m.error === undefined ? decodeProtoFields(m.bytes) : undefined, m.bytes));
  if (recorded.grpc.truncated) {
    v.ignore('body', `recorded call kept ${rec.length} messages: only those compared`);
    rep = rep.slice(0, rec.length);
  }
  diffJson(rec, rep, (path, a, b) => v.add(`body.${path}`, showJson(a), showJson(b), a, b));
}

function messageJson(fields: Parameters<typeof protoJson>[0] | undefined, bytes: Buffer): unknown {
  return fields ? protoJson(fields) : { bytes: createHash('sha256').update(bytes).digest('hex') };
}
