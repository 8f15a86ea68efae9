import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between Redis clients and Redis that loses a reply on demand: armed with a marker, it forwards the
 * next command that holds the marker to Redis (and none after it), waits for Redis's answer to that command (so
 * Redis has run it), then closes the client's connection without relaying that answer. The client sees its
 * connection cut with the command unanswered, exactly the case ioredis resends after reconnecting. Deterministic:
 * the proxy counts commands and replies (RESP), so no timing, and no other command's answer arriving meanwhile,
 * decides whether the command ran. An answer saying the command was not run (a Cluster node's `MOVED` or `ASK`, a
 * `NOSCRIPT`) is relayed, and the cut waits for the command as the client sends it again.
 */
export interface CuttingProxy {
  /** The proxy's port in front of the Redis server on `target` (one of the ports it was started with). */
  portOf(target: number): number;
  /**
   * Arms one cut, for the next client data holding `marker` (a session ID, a field name; or any of several, such as
   * a script's SHA1 and a line of it, which ioredis sends the first time on a connection); resolves
   * once that data's answer has arrived from Redis and the client's connection was closed without it.
   *
   * With `hold`, the connections clients open from the cut on are held: accepted, their data kept, but nothing sent
   * to Redis until the function the promise resolves to is called. The client cut reconnects, and its command is
   * resent, only then: the test puts another request's step between the command's first run and its resend.
   */
  cutAfter(marker: string | readonly string[], hold?: 'hold'): Promise<() => void>;
  /** Disarms a cut that never happened (its promise stays pending). */
  disarm(): void;
  close(): Promise<void>;
}

/** The starts of the error answers of a command Redis did not run: a Cluster redirection, a script not loaded. */
const NOT_RUN = ['-MOVED ', '-ASK ', '-NOSCRIPT ', '-TRYAGAIN ', '-CLUSTERDOWN ', '-LOADING '].map((start) => Buffer.from(start));

/**
 * Where the RESP message (a command, a reply; RESP2 or RESP3) that starts at `at` ends, or -1 while it is
 * incomplete. An attribute (`|`) belongs to the message it precedes.
 */
function messageEnd(bytes: Buffer, at: number): number {
  if (at >= bytes.length) return -1;
  const lineEnd = bytes.indexOf('\r\n', at);
  if (lineEnd === -1) return -1;
  const type = String.fromCharCode(bytes[at]!);
  const size = Number(bytes.toString('latin1', at + 1, lineEnd));
  let next = lineEnd + 2;
  if (type === '$' || type === '!' || type === '=') return size < 0 ? next : bytes.length >= next + size + 2 ? next + size + 2 : -1;
  if (!'*~>%|'.includes(type)) return next;
  const elements = size < 0 ? 0 : type === '%' || type === '|' ? 2 * size : size;
  for (let element = 0; element < elements && next !== -1; element++) next = messageEnd(bytes, next);
  return type === '|' && next !== -1 ? messageEnd(bytes, next) : next;
}

/** A splitter of one direction of a connection: given each chunk read, returns the messages it completes. */
function messages(): (chunk: Buffer) => Buffer[] {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    const bytes = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const complete: Buffer[] = [];
    let at = 0;
    for (let end = messageEnd(bytes, at); end !== -1; end = messageEnd(bytes, at)) {
      complete.push(bytes.subarray(at, end));
      at = end;
    }
    pending = bytes.subarray(at);
    return complete;
  };
}

/**
 * Starts one proxy port on loopback per Redis server on `targetPorts` (one for a single server, one per node for a
 * Cluster, whose clients reach them through ioredis's `natMap`); a cut is armed on all of them at once and happens
 * on the first that sees the marker.
 */
export async function startCuttingProxy(targetPorts: readonly number[]): Promise<CuttingProxy> {
  let armed: { markers: Buffer[]; hold: boolean; done: (release: () => void) => void } | undefined;
  const sockets = new Set<Socket>();
  /** While new connections are held, what opens each once they are let go. */
  let held: (() => void)[] | undefined;

  const listenFor = async (targetPort: number): Promise<{ server: Server; port: number }> => {
    const server = createServer((client) => {
      if (held === undefined) relay(client);
      else {
        client.pause();
        sockets.add(client);
        held.push(() => {
          if (client.destroyed) return void sockets.delete(client);
          relay(client);
          client.resume();
        });
      }
    });
    const relay = (client: Socket) => {
      const upstream = connect(targetPort, '127.0.0.1');
      sockets.add(client).add(upstream);
      const commands = messages();
      const replies = messages();
      let [sent, answered] = [0, 0];
      /** The cut under way, and the number of the command whose answer it waits for. */
      let cutting: { cut: NonNullable<typeof armed>; at: number } | undefined;
      /** Whole commands not sent yet: held back while a cut waits (if it goes ahead, they go unanswered). */
      const queued: Buffer[] = [];
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      // Whole commands and whole replies, counted: Redis answers a connection's commands in order.
      const send = () => {
        while (cutting === undefined && queued.length > 0) {
          const command = queued.shift()!;
          upstream.write(command);
          sent++;
          const cut = armed;
          if (cut !== undefined && cut.markers.some((marker) => command.includes(marker))) {
            armed = undefined;
            cutting = { cut, at: sent };
          }
        }
      };
      client.on('data', (chunk: Buffer) => {
        queued.push(...commands(chunk));
        send();
      });
      upstream.on('data', (chunk: Buffer) => {
        for (const reply of replies(chunk)) {
          answered++;
          if (cutting !== undefined && answered === cutting.at) {
            if (NOT_RUN.some((refusal) => reply.subarray(0, refusal.length).equals(refusal))) {
              // Not run: the cut waits for the command sent again, here or on another connection.
              armed ??= cutting.cut;
              cutting = undefined;
              client.write(reply);
              send();
              continue;
            }
            // Held before the cut: the client cannot reconnect in between.
            const release = cutting.cut.hold ? holdNewConnections() : () => undefined;
            end();
            cutting.cut.done(release);
            return;
          }
          client.write(reply);
        }
      });
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    };
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
  };

  /** Holds the connections opened from now on, until the function returned is called. */
  const holdNewConnections = () => {
    const opening: (() => void)[] = [];
    held = opening;
    return () => {
      if (held === opening) held = undefined;
      for (const open of opening) open();
    };
  };

  const proxies = new Map<number, { server: Server; port: number }>();
  for (const targetPort of targetPorts) proxies.set(targetPort, await listenFor(targetPort));
  return {
    portOf(target) {
      const proxy = proxies.get(target);
      if (proxy === undefined) throw new Error(`no proxy in front of port ${target}`);
      return proxy.port;
    },
    cutAfter(marker, hold) {
      const markers = (typeof marker === 'string' ? [marker] : marker).map((one) => Buffer.from(one));
      return new Promise((resolve) => (armed = { markers, hold: hold === 'hold', done: resolve }));
    },
    disarm() {
      armed = undefined;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([...proxies.values()].map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

/**
 * Runs `call` with one cut armed on `marker`; resolves to its result, or the error it threw, once the cut
 * happened. Throws if no command carrying the marker was cut: a round that cut nothing proves nothing.
 */
export async function withCut<T>(
  proxy: CuttingProxy,
  marker: string | readonly string[],
  call: () => Promise<T>,
): Promise<{ value?: T; error?: unknown }> {
  const cut = proxy.cutAfter(marker);
  let settled: { value?: T; error?: unknown };
  try {
    settled = { value: await call() };
  } catch (error) {
    settled = { error };
  }
  const happened = await Promise.race([cut.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 1000))]);
  proxy.disarm();
  if (!happened) throw new Error(`no command carrying "${marker}" was cut`);
  return settled;
}
