// The demo's sample service: a tiny shop API that calls an inventory dependency for every
// request. Plain Node, no tapwire code: it is recorded the way any app is, through the proxy
// environment that `tapwire record -- COMMAND` gives it.
import http from 'node:http';

const inventory = process.argv[2];
const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url?.startsWith('/products')) {
      const upstream = await fetch(`${inventory}/stock${req.url.slice('/products'.length)}`);
      const stock = await upstream.json();
      res.writeHead(upstream.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ source: 'shop', stock }));
      return;
    }
    if (req.method === 'POST' && req.url === '/orders') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const order = JSON.parse(body || '{}');
      const reserved = await fetch(`${inventory}/reserve`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ sku: order.sku, qty: order.qty ?? 1 }),
      });
      res.writeHead(reserved.ok ? 201 : 409, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ order: { ...order, status: reserved.ok ? 'placed' : 'rejected' } }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  } catch (err) {
    res.writeHead(502, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: String(err) }));
  }
});
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  // The demo reads the port from this line.
  console.log(`sample-app listening on ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
