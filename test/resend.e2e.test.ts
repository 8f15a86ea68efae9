import { resendCases, singleRedis } from './helpers/resend-cases.js';

// A reply lost after Redis ran the command, on a single Redis: see test/helpers/resend-cases.ts.
resendCases('single Redis', singleRedis, ['ioredis defaults', 'createRedisConnections', 'README options']);
