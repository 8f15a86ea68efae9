import type { Cluster, Redis } from 'ioredis';
import { SessionStoreRecoveredError, SessionStoreUnavailableError, type SessionError } from '../errors.js';

/**
 * Why Redis cannot be reached, said from a connection failure's code or ioredis's connection-state messages;
 * undefined for anything else (a reply error is not an outage). Never includes a command or its arguments.
 */
export function connectionFailure(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
  }
  if (error.message === 'Connection is closed.') return 'connection closed';
  // A Cluster client whose connection to a node closed under a command chases the slot's MOVED replies over its
  // stale routes until it gives up (seen with natMap); its slot map is refreshed meanwhile, so sent again, the
  // command finds its node.
  if (error.message.startsWith('Too many Cluster redirections')) return 'lost the route to a Cluster node';
  if (
    error.name === 'MaxRetriesPerRequestError' ||
    error.name === 'ClusterAllFailedError' ||
    error.message.startsWith("Stream isn't writeable") ||
    error.message.startsWith('None of startup nodes is available')
  ) {
    return 'not connected';
  }
  return undefined;
}

/** Where a single-server client connects: `host:port`, a socket path, or the master a Sentinel client follows. */
export function serverAddress(client: Redis): string {
  const { host, port, path, sentinels, name } = client.options;
  if (sentinels && sentinels.length > 0) return `Sentinel master "${name ?? 'mymaster'}"`;
  if (path) return path;
  return `${host ?? 'localhost'}:${port ?? 6379}`;
}

/** A connection-state change of a client the library owns: why it lost `address`, or null once connected. */
interface ConnectionEvent {
  address: string;
  failure: string | null;
}

/** The listeners the library put on a client it owns, and the stores following it. */
interface OwnedClient {
  readonly followers: Set<(event: ConnectionEvent) => void>;
  /** The last connection failure of each address, until it connects again. */
  readonly failures: Map<string, string>;
  /** Set once the library is closing the client: its end is then final. */
  closing: boolean;
}

const owned = new WeakMap<object, OwnedClient>();

/**
 * Takes charge of the connection errors of a client the library owns (from a store's factory or a registry's
 * configuration), so ioredis never prints them as unhandled: a single server's failures and reconnections go to
 * the stores using it, which report each outage once. A Cluster's connection errors are only silenced, since
 * one node failing is not an outage of the store; its stores see outages through the calls to each master.
 */
export function takeCharge(client: Redis | Cluster): void {
  if (owned.has(client)) return;
  const state: OwnedClient = { followers: new Set(), failures: new Map(), closing: false };
  owned.set(client, state);
  const tell = (event: ConnectionEvent) => {
    if (event.failure === null) state.failures.delete(event.address);
    else state.failures.set(event.address, event.failure);
    for (const follower of state.followers) follower(event);
  };
  if (client.isCluster) {
    client.on('error', () => {});
    return;
  }
  const address = serverAddress(client as Redis);
  client.on('error', (error: unknown) => tell({ address, failure: connectionFailure(error) ?? 'connection failed' }));
  client.on('ready', () => tell({ address, failure: null }));
  if ((client as Redis).options.failoverDetector) reconnectAfterDetectorStop(client as Redis, state);
}

/**
 * ioredis's `failoverDetector` acts on +switch-master by stopping the client's connector, as `disconnect()` does,
 * without the client knowing. A client that lost its master may be asking a sentinel for it just then: that
 * attempt fails with "Connection is closed." and ioredis ends the client for good, though nobody closed it
 * (the store stayed unavailable after a master crashed, until a restart). Such a client is connected again. An
 * attempt stopped by `disconnect()` itself reports no error, and an end after a closed connection (`quit()`, no
 * retries left) follows a 'close' event; neither is undone.
 */
function reconnectAfterDetectorStop(client: Redis, state: OwnedClient): void {
  let stopped = false;
  client.on('error', (error: unknown) => {
    stopped = client.status === 'connecting' && error instanceof Error && error.message === 'Connection is closed.';
  });
  client.on('close', () => (stopped = false));
  client.on('end', () => {
    if (stopped && !state.closing) client.connect().catch(() => undefined);
    stopped = false;
  });
}

/** The library is closing `client`, one it took charge of: nothing connects it again. */
export function closingOwned(client: Redis | Cluster): void {
  const state = owned.get(client);
  if (state !== undefined) state.closing = true;
}

/** The 16384 Cluster slots; a key's slot is the CRC16 (XMODEM) of its hash tag, or of the whole key. */
function keySlot(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b); // '{'
  const close = open === -1 ? -1 : bytes.indexOf(0x7d, open + 1); // '}'
  const tagged = close > open + 1 ? bytes.subarray(open + 1, close) : bytes;
  let crc = 0;
  for (const byte of tagged) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** How often at most a Cluster's slot map is refreshed because a command timed out. */
const REFRESH_AFTER_TIMEOUT_MS = 1000;
const lastRefresh = new WeakMap<Cluster, number>();

/**
 * Asks a Cluster to read its slot map again after a command got no answer. A master that froze with its
 * connections open never says MOVED, and ioredis refreshes its map only on MOVED (or on a refresh interval);
 * refreshing lets the calls for its slots reach the replica that took over. Throttled per Cluster.
 */
function refreshAfterTimeout(cluster: Cluster): void {
  const now = Date.now();
  if (now - (lastRefresh.get(cluster) ?? 0) < REFRESH_AFTER_TIMEOUT_MS) return;
  lastRefresh.set(cluster, now);
  cluster.refreshSlotsCache();
}

/** An outage under way: since when, and (on a Cluster) the slots whose calls failed with it. */
interface Outage {
  since: number;
  slots: Set<number>;
}

/** Where a command went: its server, and on a Cluster its slot. */
export interface Destination {
  address: string;
  slot?: number;
}

/**
 * A store's view of its Redis's health: it reports each outage once (a `SessionStoreUnavailableError` naming the
 * server and why) and its end once (`SessionStoreRecoveredError`), from the results of the store's own commands
 * and, for a client the library owns, from its connection events.
 */
export class StoreHealth {
  readonly #reporters = new Set<(error: SessionError) => void>();
  readonly #outages = new Map<string, Outage>();
  #client: Redis | Cluster | undefined;
  /** A single server's destination, the same for every command. */
  #server: Destination | undefined;
  #unfollow: (() => void) | undefined;
  /** The key of the last command sent through `recording`. */
  #lastKey: string | undefined;
  #recording: Cluster | undefined;

  reportTo(report: (error: SessionError) => void): void {
    this.#reporters.add(report);
  }

  /** Starts following `client`: its connection events if the library owns it. */
  follow(client: Redis | Cluster): void {
    this.#client = client;
    const state = owned.get(client);
    if (state === undefined) return;
    const follower = (event: ConnectionEvent) =>
      event.failure === null ? this.answered({ address: event.address }) : this.failed({ address: event.address }, event.failure);
    state.followers.add(follower);
    this.#unfollow = () => state.followers.delete(follower);
    for (const [address, failure] of state.failures) this.failed({ address }, failure);
  }

  unfollow(): void {
    this.#unfollow?.();
    this.#unfollow = undefined;
    this.#client = undefined;
    this.#server = undefined;
    this.#recording = undefined;
  }

  /**
   * The client to send commands through: a Cluster is wrapped to note each command's key (every store command
   * has its key first), so that a failure can name the master serving that key.
   */
  sender<C extends Redis | Cluster>(client: C): C {
    if (!client.isCluster) return client;
    const noting = (this.#recording ??= new Proxy(client as Cluster, {
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          this.#lastKey = typeof args[0] === 'string' ? args[0] : undefined;
          return (value as (...args: unknown[]) => unknown).apply(target, args);
        };
      },
    }));
    return noting as C;
  }

  /** Where the command just sent through `sender` went. */
  destination(client: Redis | Cluster): Destination {
    if (!client.isCluster) return (this.#server ??= { address: serverAddress(client as Redis) });
    const key = this.#lastKey;
    this.#lastKey = undefined;
    if (key === undefined) return { address: 'Redis Cluster' };
    const slot = keySlot(key);
    return { address: (client as Cluster).slots[slot]?.[0] ?? 'Redis Cluster', slot };
  }

  /**
   * The error for a command that failed: a connection failure or a timeout is an outage of its destination,
   * reported once and said in the message; anything else is not handled here (undefined). A timeout on a
   * Cluster also has it read its slot map again (see `refreshAfterTimeout`). `note` is added to the error thrown
   * (not to the outage reported).
   */
  unavailable(destination: Destination, error: unknown, timeoutMs: number, note?: string): SessionStoreUnavailableError | undefined {
    const client = this.#client;
    let failure: string;
    if (error === TIMED_OUT) {
      if (client?.isCluster) refreshAfterTimeout(client as Cluster);
      const known = client === undefined ? undefined : owned.get(client)?.failures.get(destination.address);
      failure = known ?? (client !== undefined && client.status !== 'ready' ? 'not connected' : `no answer within ${timeoutMs} ms`);
    } else {
      const said = connectionFailure(error);
      if (said === undefined) return undefined;
      failure = said;
    }
    const reported = this.failed(destination, failure);
    return note === undefined ? reported : new SessionStoreUnavailableError(`${failure} (${destination.address}); ${note}`);
  }

  /**
   * The error for a command sent now, when the client already says it has no connection (it lost it and is
   * reconnecting, between attempts or during one while an outage is under way, or was closed), so that a write
   * that cannot happen is refused before it is promised; null otherwise (connected, or making its first
   * connection, which commands wait for).
   */
  knownUnreachable(): SessionStoreUnavailableError | null {
    const client = this.#client;
    if (client === undefined) return null;
    const address = client.isCluster ? 'Redis Cluster' : serverAddress(client as Redis);
    const down = UNREACHABLE_STATUSES.has(client.status) || (client.status === 'connecting' && this.#outages.has(address));
    return down ? this.failed({ address }, 'not connected') : null;
  }

  /** Records an outage of `destination`, reporting it if it is a new one; the error that says it. */
  failed(destination: Destination, failure: string): SessionStoreUnavailableError {
    const error = new SessionStoreUnavailableError(`${failure} (${destination.address})`);
    let outage = this.#outages.get(destination.address);
    if (outage === undefined) {
      outage = { since: Date.now(), slots: new Set() };
      this.#outages.set(destination.address, outage);
      this.#report(error);
    }
    if (destination.slot !== undefined) outage.slots.add(destination.slot);
    return error;
  }

  /** A command to `destination` got its answer: ends the outage of that server, or of the master its slot had. */
  answered(destination: Destination): void {
    if (this.#outages.size === 0) return;
    if (this.#client !== undefined) owned.get(this.#client)?.failures.delete(destination.address);
    for (const [address, outage] of this.#outages) {
      if (address === destination.address || (destination.slot !== undefined && outage.slots.has(destination.slot))) {
        this.#outages.delete(address);
        this.#report(new SessionStoreRecoveredError(address, Date.now() - outage.since));
      }
    }
  }

  #report(error: SessionError): void {
    for (const report of this.#reporters) report(error);
  }
}

/** The ioredis statuses of a client that has no connection and is not about to make its first one. */
const UNREACHABLE_STATUSES = new Set(['reconnecting', 'close', 'end']);

/** What a store's command timer rejects with, told apart from any error ioredis could give. */
export const TIMED_OUT: unique symbol = Symbol('timed out');
