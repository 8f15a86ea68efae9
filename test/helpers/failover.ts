import { TRPCClientError } from '@trpc/client';
import { expect } from 'vitest';
import type { TestRouter } from './app.js';
import { eventually } from './fixture.js';
import { browser } from './http.js';

/** What one simulated browser saw through a failover, and what was stored for it afterwards. */
export interface WriterOutcome {
  /** The session ID the browser got before the failover. */
  id: string;
  /** The session ID it reads after the failover (the same, unless the session was lost). */
  idAfter: string | undefined;
  /** The last write acknowledged before replication was known to have caught up, ahead of the failover. */
  replicated: number;
  /** The number in the note stored for it after the failover. */
  stored: number;
}

export interface FailoverRun {
  writers: WriterOutcome[];
  /** Failures other than the store-unavailable error. */
  unexpected: unknown[];
  /** The note a browser that came after the failover wrote and read back. */
  freshNote: string | undefined;
}

/**
 * Browsers keep writing notes through the app at `url` (served with the test router) while `failOver`
 * takes the store's master down and waits until Redis has promoted a replica. A write is acknowledged when
 * `putAndPersist` answers, since `persist()` waits for Redis and throws when it fails. Redis replicates
 * asynchronously, so what is sure to survive is what the replicas had when `waitForReplication` returned:
 * the run records each browser's last acknowledged write before that point. It ends once every browser
 * has written again after the failover, within bounded waits.
 */
export async function writeThroughFailover(
  url: string,
  steps: {
    waitForReplication(): Promise<void>;
    /** Kills (or fails over) the master, given the Redis key of one writer's session; resolves once a replica took over. */
    failOver(sessionKey: string): Promise<void>;
  },
  count = 24,
): Promise<FailoverRun> {
  const unexpected: unknown[] = [];
  let failedOver = false;
  let running = true;
  const writers = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const { client } = browser<TestRouter>(url);
      await client.putAndPersist.mutate({ note: `${index}:0` });
      return { client, id: (await client.read.query()).id, acked: 0, recovered: false };
    }),
  );
  const loops = writers.map(async (writer, index) => {
    for (let sequence = 1; running; sequence++) {
      try {
        await writer.client.putAndPersist.mutate({ note: `${index}:${sequence}` });
        writer.acked = sequence;
        if (failedOver) writer.recovered = true;
      } catch (error) {
        // While the master is gone a call fails, within the store's commandTimeout, with this error.
        if (!(error instanceof TRPCClientError && error.message.startsWith('Session store unavailable'))) unexpected.push(error);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  try {
    await eventually(() => {
      if (!writers.every((writer) => writer.acked >= 2)) throw new Error('the writers have not got going');
    }, 10_000);
    const replicated = writers.map((writer) => writer.acked);
    await steps.waitForReplication();
    await steps.failOver(`session:${writers[0]!.id}`);
    failedOver = true;
    await eventually(() => {
      const waiting = writers.filter((writer) => !writer.recovered).length;
      if (waiting > 0) throw new Error(`${waiting} writers have not written since the failover`);
    }, 30_000);
    running = false;
    await Promise.all(loops);

    const outcomes = await Promise.all(
      writers.map(async (writer, index): Promise<WriterOutcome> => {
        const session = await writer.client.peek.query();
        return {
          id: writer.id,
          idAfter: session?.id,
          replicated: replicated[index]!,
          stored: Number(String(session?.data.note).split(':')[1]),
        };
      }),
    );
    const { client } = browser<TestRouter>(url);
    await client.putAndPersist.mutate({ note: 'after the failover' });
    const fresh = await client.peek.query();
    return { writers: outcomes, unexpected, freshNote: fresh?.data.note as string | undefined };
  } finally {
    running = false;
    await Promise.allSettled(loops);
  }
}

/**
 * What a failover must keep: only store-unavailable failures, every session still there under the same ID
 * with at least its replicated write, and new sessions working.
 */
export function expectSurvived(run: FailoverRun): void {
  expect(run.unexpected).toEqual([]);
  for (const writer of run.writers) {
    expect(writer.idAfter).toBe(writer.id);
    expect(writer.stored).toBeGreaterThanOrEqual(writer.replicated);
  }
  expect(run.freshNote).toBe('after the failover');
}
