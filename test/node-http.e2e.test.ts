import { serveNodeHTTP } from './helpers/servers.js';
import { httpTransportContract } from './helpers/transport-contract.js';

// tRPC's standalone adapter (and Express, which hands createContext the same Node req and res).
httpTransportContract(serveNodeHTTP);
