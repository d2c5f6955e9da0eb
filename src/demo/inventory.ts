/** The demo's dependency: an in-memory inventory service on loopback. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const stock: Record<string, number> = { '1': 12, '2': 0, '3': 7 };

export async function startInventory(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/stock') return send(200, stock);
    const m = /^\/stock\/(\w+)$/.exec(req.url ?? '');
    if (req.method === 'GET' && m) {
      const qty = stock[m[1] as string];
      return qty === undefined ? send(404, { error: 'unknown sku' }) : send(200, { sku: m[1], qty });
    }
    if (req.method === 'POST' && req.url === '/reserve') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const { sku, qty } = JSON.parse(body) as { sku: string; qty: number };
        const have = stock[sku] ?? 0;
        if (have < qty) return send(409, { error: 'out of stock', sku });
        stock[sku] = have - qty;
        send(200, { sku, reserved: qty, left: stock[sku] });
      });
      return;
    }
    send(404, { error: 'not found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
