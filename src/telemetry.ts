import type { Counter, Histogram, Tracer } from '@opentelemetry/api';
import { SessionError, SessionStoreUnavailableError } from './errors.js';
import { sessionRef } from './id.js';
import type { SessionStore } from './stores/store.js';

/*
 * OpenTelemetry, through @opentelemetry/api only: an optional peer dependency, imported (lazily, on the first
 * traced call) only by a manager made with `telemetry: true`. Without it no module of the package refers to it
 * at run time, and a request pays nothing. Attributes never carry a session ID, a user ID or data: the session
 * is named by its `ref`.
 */

/** What an operation ended with, as `trpc_session.outcome` tells it. */
export type Outcome = 'found' | 'missing' | 'moved' | 'corrupt' | 'written' | 'conflict' | 'refused' | 'store unavailable' | 'done' | 'error';

/** The attribute names, in one place. */
export const ATTRIBUTE = {
  outcome: 'trpc_session.outcome',
  ref: 'trpc_session.ref',
  fieldsWritten: 'trpc_session.fields_written',
  fieldsRemoved: 'trpc_session.fields_removed',
  create: 'trpc_session.create',
  sessionsEnded: 'trpc_session.sessions_ended',
} as const;

/** A span's attributes: never an ID or data. */
export type SpanAttributes = Record<string, string | number | boolean>;

/** What a traced operation may add to its span once it knows it (`null`: telemetry could not be loaded). */
export interface SpanNotes {
  setAttribute(key: string, value: string | number | boolean): unknown;
}

interface Instruments {
  tracer: Tracer;
  errorStatus: number;
  loadDuration: Histogram;
  commitDuration: Histogram;
  conflicts: Counter;
  retries: Counter;
  outages: Counter;
  created: Counter;
}

/** The library's tracer and meter, once @opentelemetry/api is loaded. */
export class SessionTelemetry {
  readonly #loading: Promise<Instruments | null>;
  #instruments: Instruments | null | undefined;
  /**
   * Sessions whose last write or compare-and-set met a conflict: their next one is a retry. Bounded, as a
   * retry that never comes (the session ended meanwhile) leaves its entry.
   */
  readonly #conflicted = new Set<string>();

  constructor(report: (error: SessionError) => void) {
    this.#loading = import('@opentelemetry/api').then(
      (api) => {
        const meter = api.metrics.getMeter('trpc-session');
        return {
          tracer: api.trace.getTracer('trpc-session'),
          errorStatus: api.SpanStatusCode.ERROR,
          loadDuration: meter.createHistogram('trpc_session.load.duration', { unit: 's', description: 'How long loading a session from the store took' }),
          commitDuration: meter.createHistogram('trpc_session.commit.duration', { unit: 's', description: "How long writing a session's changes took" }),
          conflicts: meter.createCounter('trpc_session.conflicts', { description: 'Writes and updates that found the record changed by another request' }),
          retries: meter.createCounter('trpc_session.retries', { description: 'Writes and updates made again after a conflict' }),
          outages: meter.createCounter('trpc_session.store.outages', { description: 'Times the store became unreachable' }),
          created: meter.createCounter('trpc_session.sessions.created', { description: 'New sessions written' }),
        };
      },
      (cause: unknown) => {
        report(new SessionError('INTERNAL_SERVER_ERROR', 'trpc-session: `telemetry: true` needs @opentelemetry/api installed; sessions work on without telemetry', cause));
        return null;
      },
    );
  }

  /** Runs `work` in a span `trpc-session.<name>`, its outcome told by `outcomeOf` (or by what it throws). */
  async span<T>(name: string, attributes: SpanAttributes, work: (span: SpanNotes | null) => Promise<T>, outcomeOf: (result: T) => Outcome = () => 'done'): Promise<T> {
    const instruments = (this.#instruments ??= await this.#loading);
    if (instruments === null) return work(null);
    return instruments.tracer.startActiveSpan(`trpc-session.${name}`, { attributes }, async (span) => {
      try {
        const result = await work(span);
        span.setAttribute(ATTRIBUTE.outcome, outcomeOf(result));
        return result;
      } catch (error) {
        const unavailable = error instanceof SessionStoreUnavailableError;
        span.setAttribute(ATTRIBUTE.outcome, unavailable ? 'store unavailable' : error instanceof SessionError && error.code !== 'INTERNAL_SERVER_ERROR' ? 'refused' : 'error');
        // The error's class, never its message: a message may name the session.
        span.setStatus({ code: instruments.errorStatus, message: (error as Error)?.name ?? 'Error' });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /** Counts a conflict of the session `id`, or a retry after one. */
  #countConflict(id: string, outcome: Outcome): void {
    const instruments = this.#instruments;
    if (!instruments) return;
    if (this.#conflicted.delete(id)) instruments.retries.add(1);
    if (outcome !== 'conflict') return;
    instruments.conflicts.add(1);
    if (this.#conflicted.size >= 10_000) this.#conflicted.clear();
    this.#conflicted.add(id);
  }

  /** The store with a span around each call, and the metrics its results give. */
  traced(store: SessionStore): SessionStore {
    const span = <T>(name: string, id: string | null, work: () => Promise<T>, outcomeOf?: (result: T) => Outcome, attributes: SpanAttributes = {}) =>
      this.span(name, id === null ? attributes : { ...attributes, [ATTRIBUTE.ref]: sessionRef(id) }, work, outcomeOf);
    const timed = async <T>(histogram: (instruments: Instruments) => Histogram, work: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await work();
      } finally {
        if (this.#instruments) histogram(this.#instruments).record((performance.now() - started) / 1000);
      }
    };
    return {
      load: (id, now) =>
        timed(
          (instruments) => instruments.loadDuration,
          () => span('load', id, () => store.load(id, now), (result) => (result.status === 'found' ? 'found' : result.status)),
        ),
      write: (id, change) =>
        timed(
          (instruments) => instruments.commitDuration,
          () =>
            span(
              'commit',
              id,
              async () => {
                const result = await store.write(id, change);
                this.#countConflict(id, writeOutcome(result));
                return result;
              },
              writeOutcome,
              { [ATTRIBUTE.fieldsWritten]: change.set.size, [ATTRIBUTE.fieldsRemoved]: change.remove.length, [ATTRIBUTE.create]: change.create },
            ),
        ),
      compareAndSet: (id, swap) =>
        span(
          'update',
          id,
          async () => {
            const result = await store.compareAndSet(id, swap);
            this.#countConflict(id, result.status === 'ok' ? 'written' : result.status === 'conflict' ? 'conflict' : 'refused');
            return result;
          },
          (result) => (result.status === 'ok' ? 'written' : result.status === 'conflict' ? 'conflict' : 'refused'),
        ),
      touch: (id, touch) => span('store.touch', id, () => store.touch(id, touch), okOrRefused),
      moveOut: (id, now, to) => span('store.moveOut', id, () => store.moveOut(id, now, to), (result) => (result.status === 'found' ? 'done' : 'refused')),
      destroy: (id) => span('store.destroy', id, () => store.destroy(id), (found) => (found ? 'done' : 'missing')),
      bindUser: (id, userId, expiresAt, device) => span('store.bindUser', id, () => store.bindUser(id, userId, expiresAt, device), okOrRefused),
      unbindUser: (id, userId) => span('store.unbindUser', id, () => store.unbindUser(id, userId)),
      userSessions: (userId, now, limit) => span('store.userSessions', null, () => store.userSessions(userId, now, limit)),
      trimUserSessions: (userId, max, keep, now) => span('store.trimUserSessions', keep, () => store.trimUserSessions(userId, max, keep, now)),
      revokeSessions: (userId, which, keep) =>
        span('store.revokeSessions', null, () => store.revokeSessions(userId, which, keep)),
      ...(store.available && { available: () => store.available!() }),
      ...(store.ping && { ping: () => store.ping!() }),
      close: () => store.close(),
      ...(store.reportTo && {
        reportTo: (report: (error: SessionError) => void) =>
          store.reportTo!((error) => {
            // The store tells each outage once.
            if (error instanceof SessionStoreUnavailableError) this.#instruments?.outages.add(1);
            report(error);
          }),
      }),
    };
  }

  /** Counts a new session written (not one moved by `regenerate()`). */
  created(): void {
    this.#instruments?.created.add(1);
  }
}

const okOrRefused = (result: 'ok' | 'gone'): Outcome => (result === 'ok' ? 'done' : 'refused');

function writeOutcome(result: Awaited<ReturnType<SessionStore['write']>>): Outcome {
  if (result === 'ok') return 'written';
  return result === 'stale' ? 'conflict' : 'refused';
}
