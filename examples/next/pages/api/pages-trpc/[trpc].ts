import { createNextApiHandler } from '@trpc/server/adapters/next';
import { appRouter } from '../../../server/router';
import { sessions } from '../../../server/sessions';

export default createNextApiHandler({ router: appRouter, createContext: sessions.createContext });
