import { execFileSync } from 'node:child_process';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startRedis } from './helpers/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisPort: number;
  }
}

/** One shared throwaway redis-server for the suite; tests that stop or count commands start their own. */
export default async function setup(project: TestProject) {
  try {
    execFileSync('redis-server', ['--version']);
  } catch {
    throw new Error('redis-server is not installed; `.ci/run` installs it (apt-get install redis-server)');
  }
  const redis = await startRedis();
  project.provide('redisPort', redis.port);
  return async () => {
    await redis.stop(true);
  };
}
