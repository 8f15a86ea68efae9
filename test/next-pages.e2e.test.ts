import { serveNextPages } from './helpers/servers.js';
import { httpTransportContract } from './helpers/transport-contract.js';

// createNextApiHandler with `sessions.createContext`, as a pages-router route `pages/api/trpc/[trpc].ts`.
httpTransportContract(serveNextPages);
