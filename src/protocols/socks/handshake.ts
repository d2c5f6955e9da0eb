/**
 * The server side of a SOCKS4 / SOCKS4a / SOCKS5 handshake as a sans-IO state machine: the
 * listener pushes the bytes it reads and carries out the steps it gets back; this class never
 * touches a socket, a timer or a resolver, so every path is testable with scripted bytes.
 *
 *   const hs = new SocksServerHandshake();
 *   socket.on('data', (chunk) => {
 *     for (const step of hs.push(chunk)) {
 *       if (step.type === 'send') socket.write(step.bytes);
 *       else if (step.type === 'fail') step.bytes ? socket.end(step.bytes) : socket.destroy();
 *       else if (step.type === 'connect') dial(step.target)  // then write hs.connectedReply()
 *     }                                                      // or hs.failedReply(why)
 *   });
 *
 * Only CONNECT is served; BIND and UDP ASSOCIATE get "command not supported" and a close.
 * Malformed input never throws: it ends in a `fail` step carrying the protocol's error reply
 * where it has one. Input may be split at any byte or carry several messages in one chunk
 * (clients that pipeline the greeting, credentials and request get every answer in order).
 */
import { socks4Reply, SOCKS4_GRANTED, SOCKS4_REJECTED, SOCKS4_VERSION, parseSocks4Request } from './socks4.ts';
import {
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  METHOD_PASSWORD,
  SOCKS5_VERSION,
  Socks5Reply,
  methodSelection,
  parseGreeting,
  parsePasswordAuth,
  parseRequest,
  passwordAuthReply,
  socks5FailureReply,
  socks5Reply,
} from './socks5.ts';
import type { SocksFailure, SocksServerOptions, SocksStep, SocksTarget } from './types.ts';

type State =
  | 'start' // nothing read yet: the first byte picks the version
  | 'greeting' // SOCKS5 method list
  | 'password' // SOCKS5 username/password sub-negotiation
  | 'request5' // SOCKS5 CONNECT request
  | 'request4' // SOCKS4/4a request
  | 'dialing' // `connect` returned; waiting for connectedReply()/failedReply()
  | 'done'; // replied or failed: nothing more to do

const EMPTY = Buffer.alloc(0);

export class SocksServerHandshake {
  private state: State = 'start';
  private buffered: Buffer = EMPTY;
  private socksVersion: 4 | 5 | undefined;
  private user: string | undefined;
  private readonly requireAuth: boolean;

  constructor(private readonly options: SocksServerOptions = {}) {
    this.requireAuth = options.requireAuth ?? options.authenticate !== undefined;
  }

  /** The version the client speaks, once its first byte has been seen. */
  get version(): 4 | 5 | undefined {
    return this.socksVersion;
  }

  /**
   * Feeds bytes read from the client. Returns zero or more `send` steps followed by exactly
   * one `need-more`, `connect` or `fail`. After `connect` or `fail` the handshake is over:
   * later bytes are tunnel data for the caller, and pushing them here yields a `fail`.
   * `rest` in a `connect` step may share memory with the chunks pushed.
   */
  push(chunk: Buffer): SocksStep[] {
    if (this.state === 'dialing' || this.state === 'done') {
      this.finish();
      return [{ type: 'fail', reason: 'bytes pushed after the SOCKS handshake finished' }];
    }
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const steps: SocksStep[] = [];
    for (;;) {
      const step = this.next();
      steps.push(step);
      if (step.type !== 'send') return steps;
    }
  }

  /** The success reply, once the upstream connection is open; `bound` is its local address. */
  connectedReply(bound?: { host: string; port: number }): Buffer {
    this.finish();
    return this.socksVersion === 4 ? socks4Reply(SOCKS4_GRANTED, bound) : socks5Reply(Socks5Reply.succeeded, bound);
  }

  /** The failure reply when the upstream connection could not be made; close after writing it. */
  failedReply(reason: SocksFailure): Buffer {
    this.finish();
    // SOCKS4 has one code for every failure; SOCKS5 tells the client why.
    return this.socksVersion === 4 ? socks4Reply(SOCKS4_REJECTED) : socks5FailureReply(reason);
  }

  /** Runs the current state once: a `send` means it advanced and the loop goes on. */
  private next(): SocksStep {
    switch (this.state) {
      case 'start':
        return this.start();
      case 'greeting':
        return this.greeting();
      case 'password':
        return this.password();
      case 'request5':
        return this.request5();
      case 'request4':
        return this.request4();
      case 'dialing':
      case 'done':
        return { type: 'fail', reason: 'SOCKS handshake already finished' };
    }
  }

  private start(): SocksStep {
    const first = this.buffered[0];
    if (first === undefined) return { type: 'need-more' };
    if (first === SOCKS5_VERSION) {
      this.socksVersion = 5;
      this.state = 'greeting';
      return this.greeting();
    }
    if (first === SOCKS4_VERSION) {
      this.socksVersion = 4;
      this.state = 'request4';
      return this.request4();
    }
    return this.fail(`not a SOCKS handshake (first byte 0x${first.toString(16).padStart(2, '0')})`);
  }

  private greeting(): SocksStep {
    const parsed = parseGreeting(this.buffered);
    if (parsed.kind === 'need-more') return { type: 'need-more' };
    if (parsed.kind === 'error') return this.fail(parsed.reason, parsed.reply);
    this.consume(parsed.size);
    // Prefer username/password when offered, even when any credentials pass: the username is
    // worth recording (clients given credentials usually offer both methods).
    if (parsed.value.has(METHOD_PASSWORD)) {
      this.state = 'password';
      return { type: 'send', bytes: methodSelection(METHOD_PASSWORD) };
    }
    if (parsed.value.has(METHOD_NO_AUTH) && !this.requireAuth) {
      this.state = 'request5';
      return { type: 'send', bytes: methodSelection(METHOD_NO_AUTH) };
    }
    const offered = [...parsed.value].map((m) => `0x${m.toString(16).padStart(2, '0')}`).join(', ');
    return this.fail(
      `no acceptable SOCKS5 authentication method (offered ${offered})`,
      methodSelection(METHOD_NONE_ACCEPTABLE),
    );
  }

  private password(): SocksStep {
    const parsed = parsePasswordAuth(this.buffered);
    if (parsed.kind === 'need-more') return { type: 'need-more' };
    if (parsed.kind === 'error') return this.fail(parsed.reason, parsed.reply);
    this.consume(parsed.size);
    const { user, password } = parsed.value;
    if (!this.credentialsPass(user, password)) {
      return this.fail(`SOCKS5 credentials rejected for user ${JSON.stringify(user)}`, passwordAuthReply(false));
    }
    this.user = user;
    this.state = 'request5';
    return { type: 'send', bytes: passwordAuthReply(true) };
  }

  private request5(): SocksStep {
    const parsed = parseRequest(this.buffered);
    if (parsed.kind === 'need-more') return { type: 'need-more' };
    if (parsed.kind === 'error') return this.fail(parsed.reason, parsed.reply);
    return this.connect(5, parsed.size, parsed.value, this.user);
  }

  private request4(): SocksStep {
    if (this.requireAuth) {
      return this.fail('SOCKS4 cannot authenticate and authentication is required', socks4Reply(SOCKS4_REJECTED));
    }
    const parsed = parseSocks4Request(this.buffered);
    if (parsed.kind === 'need-more') return { type: 'need-more' };
    if (parsed.kind === 'error') return this.fail(parsed.reason, parsed.reply);
    return this.connect(4, parsed.size, parsed.value.target, parsed.value.user);
  }

  private connect(version: 4 | 5, size: number, target: SocksTarget, user: string | undefined): SocksStep {
    const rest = this.buffered.subarray(size);
    this.buffered = EMPTY;
    this.state = 'dialing';
    return user === undefined
      ? { type: 'connect', version, target, rest }
      : { type: 'connect', version, target, user, rest };
  }

  private credentialsPass(user: string, password: string): boolean {
    const check = this.options.authenticate;
    if (check === undefined) return true;
    try {
      return check(user, password) === true;
    } catch {
      // A throwing checker must not take the listener down; it simply does not vouch.
      return false;
    }
  }

  private fail(reason: string, bytes?: Buffer): SocksStep {
    this.finish();
    return bytes === undefined ? { type: 'fail', reason } : { type: 'fail', bytes, reason };
  }

  private consume(size: number): void {
    this.buffered = this.buffered.length === size ? EMPTY : this.buffered.subarray(size);
  }

  private finish(): void {
    this.state = 'done';
    this.buffered = EMPTY;
  }
}
