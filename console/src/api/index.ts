/** The console's one session, HTTP client and providers. */

import { createAuthProvider } from './authProvider';
import { createDataProvider } from './dataProvider';
import { Http } from './http';
import { Session } from './session';

export const session = new Session();
export const http = new Http(session);
export const dataProvider = createDataProvider(http);
export const authProvider = createAuthProvider(session, http);

export { allowed, type Role } from './access';
export { ApiError, CONFLICT_MESSAGE } from './errors';
export type {
    BulkAnswer,
    BulkResult,
    ClaimedItem,
    ClaimQueue,
    DashboardStats,
    MemberdeskDataProvider,
    QueueFigures,
    ReasonCode,
} from './dataProvider';
export { serverStatus } from './status';
