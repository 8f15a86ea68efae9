import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromServer, ServerSpec, ToServer } from './server.js';

const SERVER_ENTRY = fileURLToPath(new URL('./server.ts', import.meta.url));

/** A running server process, seen from the benchmark's process. */
export interface ServerProcess {
  readonly spec: ServerSpec;
  /** The tRPC endpoint: a client's `url`. */
  readonly url: string;
  readonly pid: number;
  /** The server's heap in use after a full collection, in bytes. */
  heapUsed(): Promise<number>;
  /** CPU time (user + system) the server has used so far, in microseconds. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts `bench/server.ts` for `spec` in a child process. `extraNodeArgs` go to its `node` (`--cpu-prof`…).
 * The child runs TypeScript through tsx's loader, which costs only at start-up.
 */
export async function startServer(spec: ServerSpec, extraNodeArgs: string[] = []): Promise<ServerProcess> {
  const child: ChildProcess = fork(SERVER_ENTRY, [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...extraNodeArgs],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T extends FromServer['type']>(type: T) =>
    new Promise<Extract<FromServer, { type: T }>>((resolve, reject) => {
      const onMessage = (message: FromServer) => {
        if (message.type !== type) return;
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve(message as Extract<FromServer, { type: T }>);
      };
      const onExit = (code: number | null) => reject(new Error(`server ${spec.adapter}/${spec.variant} exited with ${code}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const send = (message: ToServer) => child.send(message);
  const { url } = await next('listening');
  return {
    spec,
    url,
    pid: child.pid!,
    async heapUsed() {
      const reply = next('heap');
      send({ type: 'heap' });
      return (await reply).heapUsed;
    },
    async cpuMicros() {
      const reply = next('cpu');
      send({ type: 'cpu' });
      return (await reply).micros;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      send({ type: 'stop' });
      await exited;
    },
  };
}
