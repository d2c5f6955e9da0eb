/**
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) as TypeScript types, plus the
 * `_tapwire` extension that carries what HAR has no field for. Fields that browsers often leave
 * out are optional here even where the spec requires them: the importer reads real files.
 */
import type { Body, ExchangeError, HeaderList, TlsInfo } from '../../model/exchange.ts';

export interface HarNameValue {
  name: string;
  value: string;
  comment?: string;
}

export interface HarCookie extends HarNameValue {
  path?: string;
  domain?: string;
  expires?: string | null;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: string;
}

export interface HarPostParam {
  name: string;
  value?: string;
  fileName?: string;
  contentType?: string;
}

export interface HarPostData {
  mimeType: string;
  text?: string;
  params?: HarPostParam[];
  comment?: string;
}

export interface HarRequest {
  method: string;
  url: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  queryString: HarNameValue[];
  postData?: HarPostData;
  headersSize: number;
  bodySize: number;
  comment?: string;
}

export interface HarContent {
  size: number;
  compression?: number;
  mimeType: string;
  text?: string;
  encoding?: string;
  comment?: string;
}

export interface HarResponse {
  status: number;
  statusText: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  content: HarContent;
  redirectURL: string;
  headersSize: number;
  bodySize: number;
  comment?: string;
  /** Chrome: why the request failed (`net::ERR_…`), with status 0. */
  _error?: string | null;
}

export interface HarTimings {
  blocked?: number;
  dns?: number;
  connect?: number;
  send: number;
  wait: number;
  receive: number;
  ssl?: number;
  comment?: string;
}

export interface HarEntry {
  pageref?: string;
  startedDateTime: string;
  time: number;
  request: HarRequest;
  response: HarResponse;
  cache: Record<string, unknown>;
  timings: HarTimings;
  serverIPAddress?: string;
  connection?: string;
  comment?: string;
  _tapwire?: TapwireEntryExtension;
}

export interface HarPage {
  startedDateTime: string;
  id: string;
  title: string;
  pageTimings: { onContentLoad?: number; onLoad?: number; comment?: string };
  comment?: string;
}

export interface HarLog {
  version: string;
  creator: { name: string; version: string; comment?: string };
  browser?: { name: string; version: string; comment?: string };
  pages?: HarPage[];
  entries: HarEntry[];
  comment?: string;
}

export interface Har {
  log: HarLog;
}

/**
 * How a body differs from what the HAR text shows. `data` is present only when the HAR field
 * cannot hold the captured bytes exactly (a binary request body, a response shown decoded).
 */
export interface TapwireBodyExtension {
  encoding: Body['encoding'];
  size: number;
  truncated: boolean;
  contentType?: string;
  data?: string;
}

export interface TapwireMessageExtension {
  /** Our version string (`1.1`), which HAR spells `HTTP/1.1`. */
  httpVersion: string;
  trailers?: HeaderList;
  body?: TapwireBodyExtension;
}

/** `entry._tapwire`: everything an import needs to give back the exchange that was exported. */
export interface TapwireEntryExtension {
  v: 1;
  id: string;
  ts: string;
  durationMs: number;
  direction: 'inbound' | 'outbound';
  protocol: 'http' | 'websocket' | 'grpc';
  service?: string;
  src?: string;
  dst?: string;
  tls?: TlsInfo;
  error?: ExchangeError;
  timings?: { connectMs?: number; ttfbMs?: number };
  tags?: Record<string, string>;
  request: TapwireMessageExtension;
  /** Absent when the exchange has no response (HAR still needs one: it is written with status 0). */
  response?: TapwireMessageExtension;
}
