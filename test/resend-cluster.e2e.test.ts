import { redisCluster, resendCases } from './helpers/resend-cases.js';

// A reply lost after Redis ran the command, on a 3-master Cluster: see test/helpers/resend-cases.ts.
resendCases('3-master Cluster', redisCluster);
