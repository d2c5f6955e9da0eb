/**
 * The responder's shared vocabulary: a live request as the serving side sees it, and what the
 * index answers. Serving (HTTP/1, HTTP/2, gRPC, WebSocket, TCP) builds MockRequests; the index
 * (signature + sequence per signature + near-miss explanation) answers them.
 */
import type { Exchange, HeaderList } from '../model/exchange.ts';

/** A request arriving at the mock, whatever carried it. */
export interface MockRequest {
  protocol: 'http' | 'grpc' | 'websocket';
  scheme: 'http' | 'https';
  /** Lower-case host name or IP, without brackets, without the port. */
  host: string;
  port: number;
  method: string;
  /** Path without the query string, as sent (percent-encoding kept). */
  path: string;
  /** The raw query string without `?` ('' when none). */
  query: string;
  headers: HeaderList;
  /** The whole request body (gRPC: the length-prefixed messages as sent). */
  body: Buffer;
  /** `1.1` or `2`. */
  httpVersion: string;
}

/** One recorded candidate that came close to a missed request, and what differed. */
export interface NearMiss {
  exchangeId: string;
  /** e.g. `GET https://api.test/users/7?x=1` */
  request: string;
  /** The parts that differed, most important first: `method`, `path`, `query.page`, `body.$.id`, `header.x-tenant`… */
  differences: Array<{ part: string; recorded: string; received: string }>;
  /** 0..1, higher is closer. */
  score: number;
}

export type MatchResult =
  | {
      kind: 'hit';
      exchange: Exchange;
      /** Which repeat of this signature answered (0-based); past the recorded count the last repeats. */
      occurrence: number;
      signature: string;
    }
  | {
      kind: 'miss';
      signature: string;
      /** Up to 3 closest recorded requests (same protocol), best first. */
      candidates: NearMiss[];
      /** One sentence a person reads in the 404 and in /matches. */
      explanation: string;
    };
