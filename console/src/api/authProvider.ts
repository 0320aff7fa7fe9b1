/**
 * react-admin's authProvider on Memberdesk's sessions: login sets the refresh cookie and answers an access token
 * kept in memory (Session); a reload finds no token and renews it from the cookie; `/auth/me` gives the role
 * that `canAccess` reads. The server stays the gate: this only decides what is shown.
 */

import { allowed, type Role } from './access';
import { ApiError } from './errors';
import type { Http } from './http';
import type { Session, TokenAnswer } from './session';

export interface Me {
    kind: 'operator' | 'api_key';
    id: string;
    name: string;
    role: Role;
}

export function createAuthProvider(session: Session, http: Http) {
    let me: Me | null = null;

    async function whoAmI(): Promise<Me> {
        if (!me) me = (await http.request<Me>('/api/v1/auth/me')).json;
        return me;
    }

    return {
        async login({ username, email, password }: { username?: string; email?: string; password: string }) {
            me = null;
            const response = await session.post('login', { email: email ?? username, password });
            if (!response.ok) {
                const problem = await response.json().catch(() => ({ title: response.statusText }));
                throw new ApiError(response.status, problem);
            }
            session.accept((await response.json()) as TokenAnswer);
            await whoAmI();
        },

        async logout() {
            me = null;
            await session.logout();
        },

        /** A session is there when a token is in memory, or the refresh cookie still renews one. A first visit goes
         * to the login page without a word; an ended session says so. */
        async checkAuth() {
            const hadSession = session.hasToken || session.mayHaveCookie;
            if (!(await session.validToken())) {
                me = null;
                throw hadSession ? new Error('Your session has ended: please log in.') : { message: false };
            }
        },

        /** 401 (after the one refresh Http already tried): logged out. 403: stay, the page shows the refusal. */
        async checkError(error: { status?: number }) {
            if (error?.status === 401) {
                me = null;
                session.clear();
                throw new Error('Your session has ended: please log in.');
            }
        },

        async getIdentity() {
            const who = await whoAmI();
            return { id: who.id, fullName: who.name, role: who.role };
        },

        async getPermissions() {
            if (!session.hasToken && !(await session.validToken())) return null;
            return (await whoAmI()).role;
        },

        async canAccess({ resource, action }: { resource: string; action: string }) {
            if (!(await session.validToken())) return false;
            return allowed((await whoAmI()).role, resource, action);
        },
    };
}
