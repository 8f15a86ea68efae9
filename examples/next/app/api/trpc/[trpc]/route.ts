import { after } from 'next/server';
import { fetchSessionHandler } from 'trpc-session/fetch';
import { appRouter } from '../../../../server/router';
import { sessions } from '../../../../server/sessions';

const handler = (req: Request) => fetchSessionHandler(sessions, { endpoint: '/api/trpc', req, router: appRouter, waitUntil: after });
export { handler as GET, handler as POST };
