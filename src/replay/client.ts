/**
 * One client per target origin and protocol (an undici Pool for HTTP/1.1, an HTTP/2 session for
 * h2). The open model shares one set; each virtual user of the closed model has its own, so each
 * user has its own connections.
 */
import type { ReplayedResponse } from './types.ts';
import type { PreparedRequest } from './prepare.ts';
import type { Client, ClientOptions } from './transport.ts';
import { Http1Client } from './http-client.ts';
import { Http2Client } from './h2-client.ts';

export class ClientSet {
  private readonly clients = new Map<string, Client>();

  constructor(private readonly options: ClientOptions) {}

  send(req: PreparedRequest, signal?: AbortSignal): Promise<ReplayedResponse> {
    const key = `${req.h2 ? 'h2' : 'h1'} ${req.origin}`;
    let client = this.clients.get(key);
    if (!client) {
      client = req.h2 ? new Http2Client(req.origin, this.options) : new Http1Client(req.origin, this.options);
      this.clients.set(key, client);
    }
    return client.send(req, signal);
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.close().catch(() => undefined)));
  }
}
