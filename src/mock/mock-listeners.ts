/**
 * The mock's TCP listeners (the front door and each --map port), with the connections they
 * hold, so that stop() can close them all, stalled ones included.
 */
import net from 'node:net';
import { ListenError } from '../errors.ts';

export interface MockListener {
  readonly port: number;
  readonly host: string;
  readonly connections: number;
  close(): Promise<void>;
}

export async function listenMock(
  what: string,
  host: string,
  port: number,
  idleTimeoutMs: number,
  onSocket: (socket: net.Socket) => void,
): Promise<MockListener> {
  const sockets = new Set<net.Socket>();
  // allowHalfOpen: a client that half-closes after its request still gets the response.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // each handler deals with its own; none may crash the mock
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    onSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError(what, port, host, err)));
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    host,
    get connections() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
