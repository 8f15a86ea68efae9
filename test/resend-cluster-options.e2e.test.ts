import { redisCluster, resendCases } from './helpers/resend-cases.js';

// A reply lost after Redis ran the command, on a 3-master Cluster, with the client options the README recommends
// (a file of its own, so that it runs beside test/resend-cluster.e2e.test.ts: see vitest.config.ts).
resendCases('3-master Cluster', redisCluster, ['README options']);
