/**
 * The answer to one request, whatever protocol carried it: a fault, a recorded response, a
 * miss explained, or the real host's answer (--passthrough). Serving code (HTTP/1 here, HTTP/2
 * and gRPC elsewhere) turns a Reply into bytes; the engine knows nothing of sockets.
 *
 * The engine reads its MockState through a reference swapped as a whole on hot reload, so a
 * request is always answered from one consistent index (the one current when it arrived).
 */
import type { Exchange } from '../model/exchange.ts';
import {
  compileOwn,
  compileParts,
  compileRecorded,
  type CompiledResponse,
  type ResponseParts,
} from './compiled-response.ts';
import type { Fault, FaultInjector } from './faults.ts';
import { latencyFor, type LatencyMode } from './latency.ts';
import type { MatchStats } from './match-stats.ts';
import { passThrough, type PassthroughOptions } from './passthrough.ts';
import type { MockIndex } from './mock-index.ts';
import type { MockRequest } from './types.ts';

/** Everything a reload replaces at once. */
export interface MockState {
  index: MockIndex;
  /** Each recorded exchange's response, compiled at load. */
  responses: Map<Exchange, CompiledResponse>;
  faults: FaultInjector;
  latency: LatencyMode;
  passthrough: boolean;
  /** Lower-case hosts some of whose recorded exchanges used HTTP/2 (offer h2 first to them). */
  h2Hosts: ReadonlySet<string>;
  /** Recorded exchanges loaded (all protocols), for the start banner. */
  exchanges: number;
}

export interface Reply {
  action: 'respond' | 'reset' | 'stall';
  /** Wait this long before acting. */
  delayMs: number;
  outcome: 'hit' | 'miss' | 'passthrough' | 'fault';
  /** HTTP/1 bytes of the response (action `respond`). */
  http1?: CompiledResponse;
  /** The response as parts, for protocols that frame it themselves (HTTP/2). */
  parts?: ResponseParts;
  /** The recorded exchange that answered (hits). */
  exchange?: Exchange;
  fault?: string;
}

export interface EngineOptions {
  stats: MatchStats;
  passthrough: PassthroughOptions;
}

export class MockEngine {
  constructor(
    private readonly ref: { current: MockState },
    private readonly opts: EngineOptions,
  ) {}

  get state(): MockState {
    return this.ref.current;
  }

  /** Synchronous for hits, misses and faults; a promise only when passing through. */
  answer(req: MockRequest): Reply | Promise<Reply> {
    const state = this.ref.current;
    const fault = state.faults.empty ? undefined : state.faults.pick(req);
    if (fault) {
      this.opts.stats.fault(fault.name);
      const early = faultReply(fault);
      if (early) return early;
    }
    let result = state.index.match(req);
    // A HEAD asks for what a GET would answer, without the body (RFC 9110 §9.3.2): a recorded
    // GET answers it when no HEAD was recorded. The serving side leaves the body out.
    if (result.kind === 'miss' && req.method === 'HEAD') {
      const asGet = state.index.match({ ...req, method: 'GET' });
      if (asGet.kind === 'hit') result = asGet;
    }
    if (result.kind === 'hit') {
      this.opts.stats.hit(result.signature, () => describeRequest(req));
      const x = result.exchange;
      const delayMs = latencyFor(state.latency, x) + (fault?.delayMs ?? 0);
      if (x.protocol === 'tcp' || !x.response) {
        // Recorded as a transport failure (reset, timeout…): the app meets the same failure.
        return { action: 'reset', delayMs, outcome: 'hit', exchange: x };
      }
      const res = x.response;
      let http1 = state.responses.get(x) ?? compileRecorded(res);
      if (fault) http1 = compileRecorded({ ...res, headers: [...res.headers, ['X-Tapwire-Fault', fault.name]] });
      return {
        action: 'respond',
        delayMs,
        outcome: fault ? 'fault' : 'hit',
        http1,
        parts: { status: res.status, statusText: res.statusText, headers: res.headers, body: http1.body },
        exchange: x,
        ...(fault ? { fault: fault.name } : {}),
      };
    }
    if (state.passthrough) return this.passThrough(req, fault);
    this.opts.stats.miss(describeRequest(req), result.signature, result.explanation, result.candidates);
    const body = JSON.stringify(
      {
        error: 'no recorded response matches',
        explanation: result.explanation,
        request: describeRequest(req),
        candidates: result.candidates,
      },
      null,
      2,
    );
    const headers: [string, string][] = [
      ['Content-Type', 'application/json; charset=utf-8'],
      ['X-Tapwire-Mock', 'miss'],
    ];
    if (fault) headers.push(['X-Tapwire-Fault', fault.name]);
    const http1 = compileOwn(404, headers, body + '\n');
    return {
      action: 'respond',
      delayMs: fault?.delayMs ?? 0,
      outcome: 'miss',
      http1,
      parts: { status: 404, headers, body: http1.body },
    };
  }

  private async passThrough(req: MockRequest, fault: Fault | undefined): Promise<Reply> {
    const request = describeRequest(req);
    const out = await passThrough(req, this.opts.passthrough);
    const delayMs = fault?.delayMs ?? 0;
    if (!out.ok) {
      this.opts.stats.passed(request, { error: out.message });
      const headers: [string, string][] = [
        ['Content-Type', 'text/plain; charset=utf-8'],
        ['X-Tapwire-Error', out.code],
        ['X-Tapwire-Mock', 'passthrough'],
      ];
      const http1 = compileOwn(
        out.code === 'TW_UPSTREAM_TIMEOUT' ? 504 : 502,
        headers,
        `tapwire: passthrough to ${request} failed: ${out.message}\n`,
      );
      return {
        action: 'respond',
        delayMs,
        outcome: 'passthrough',
        http1,
        parts: { status: http1.status, headers, body: http1.body },
      };
    }
    this.opts.stats.passed(request, { status: out.parts.status });
    const parts = fault
      ? { ...out.parts, extra: [...(out.parts.extra ?? []), ['X-Tapwire-Fault', fault.name] as [string, string]] }
      : out.parts;
    return { action: 'respond', delayMs, outcome: 'passthrough', http1: compileParts(parts), parts };
  }
}

/** A reply decided by the fault alone (status, reset, stall), or undefined for a delay only. */
function faultReply(fault: Fault): Reply | undefined {
  if (fault.stall) return { action: 'stall', delayMs: 0, outcome: 'fault', fault: fault.name };
  if (fault.reset) return { action: 'reset', delayMs: fault.delayMs, outcome: 'fault', fault: fault.name };
  if (fault.status === undefined) return undefined;
  const headers: [string, string][] = [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['X-Tapwire-Fault', fault.name],
  ];
  const http1 = compileOwn(fault.status, headers, `tapwire: injected fault ${fault.name}\n`);
  return {
    action: 'respond',
    delayMs: fault.delayMs,
    outcome: 'fault',
    fault: fault.name,
    http1,
    parts: { status: fault.status, headers, body: http1.body },
  };
}

/** `GET https://api.test/users/7?x=1`, the port shown only when it is not the scheme's default. */
export function describeRequest(req: MockRequest): string {
  const defaultPort = req.scheme === 'https' ? 443 : 80;
  const host = req.host.includes(':') ? `[${req.host}]` : req.host;
  const port = req.port === defaultPort ? '' : `:${req.port}`;
  return `${req.method} ${req.scheme}://${host}${port}${req.path}${req.query ? `?${req.query}` : ''}`;
}
