import { redisCluster, resendCases } from './helpers/resend-cases.js';

// A reply lost after Redis ran the command, on a 3-master Cluster, with ioredis's defaults and the clients
// createRedisConnections builds; the README's options are in test/resend-cluster-options.e2e.test.ts.
resendCases('3-master Cluster', redisCluster, ['ioredis defaults', 'createRedisConnections']);
