/**
 * The operator's session in this tab: the access token lives in memory only (never in storage a script could
 * read later); the refresh token is an HttpOnly cookie scoped to /api/v1/auth that this code never sees.
 *
 * The token is renewed shortly before it expires (when a request needs it, so an idle tab lets its session
 * lapse after REFRESH_TTL_SECONDS) and once more on a 401. One refresh at a time per tab; a 409 means another
 * tab rotated the same cookie a moment ago, so the refresh is retried once with the cookie that tab got.
 */

export const AUTH = '/api/v1/auth';
const RENEW_BEFORE_MS = 30_000;
/** Not a secret: only "this browser logged in and has not logged out", so a first visit asks for no refresh. */
const HINT = 'memberdesk.session';

type HintStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export interface TokenAnswer {
    access_token: string;
    expires_in: number;
}

export interface SessionOptions {
    baseUrl?: string;
    fetch?: typeof fetch;
    now?: () => number;
    sleep?: (ms: number) => Promise<void>;
    /** Where the session hint is kept (localStorage in a browser; none: always ask the server). */
    storage?: HintStorage | null;
}

export class Session {
    private token: string | null = null;
    private expiresAt = 0;
    private refreshing: Promise<boolean> | null = null;
    private readonly baseUrl: string;
    private readonly fetcher: typeof fetch;
    private readonly now: () => number;
    private readonly sleep: (ms: number) => Promise<void>;
    private readonly storage: HintStorage | null;
    /** Called when the session ends for good (refresh refused): the app goes to the login page. */
    onEnded: () => void = () => undefined;

    constructor(options: SessionOptions = {}) {
        this.baseUrl = options.baseUrl ?? '';
        this.fetcher = options.fetch ?? ((...args) => globalThis.fetch(...args));
        this.now = options.now ?? (() => Date.now());
        this.sleep = options.sleep ?? (ms => new Promise(resolve => setTimeout(resolve, ms)));
        this.storage = options.storage !== undefined ? options.storage : (globalThis.localStorage ?? null);
    }

    get hasToken(): boolean {
        return this.token !== null;
    }

    /** Seconds until the access token expires (negative once it has). */
    get secondsLeft(): number {
        return (this.expiresAt - this.now()) / 1000;
    }

    accept(answer: TokenAnswer): void {
        this.token = answer.access_token;
        this.expiresAt = this.now() + answer.expires_in * 1000;
        this.storage?.setItem(HINT, '1');
    }

    clear(): void {
        this.token = null;
        this.expiresAt = 0;
        this.storage?.removeItem(HINT);
    }

    /** Whether a refresh cookie may be there: without the hint there is nothing to renew (a 401 spared). */
    get mayHaveCookie(): boolean {
        return this.storage === null || this.storage.getItem(HINT) !== null;
    }

    /** A token good for at least a little while, renewed first if needed; null when there is no session. */
    async validToken(): Promise<string | null> {
        if (this.token && this.expiresAt - this.now() > RENEW_BEFORE_MS) return this.token;
        if (!this.token && !this.mayHaveCookie) return null;
        return (await this.refresh()) ? this.token : null;
    }

    /** Renew the access token from the refresh cookie (one request at a time per tab). */
    refresh(): Promise<boolean> {
        if (!this.refreshing) {
            this.refreshing = this.renew().finally(() => {
                this.refreshing = null;
            });
        }
        return this.refreshing;
    }

    private async renew(): Promise<boolean> {
        for (let attempt = 0; attempt < 2; attempt++) {
            const response = await this.post('refresh');
            if (response.status === 409 && attempt === 0) {
                await this.sleep(Number(response.headers.get('Retry-After') ?? '1') * 1000);
                continue;
            }
            if (response.ok) {
                this.accept((await response.json()) as TokenAnswer);
                return true;
            }
            break;
        }
        if (this.token !== null) this.onEnded();
        this.clear();
        return false;
    }

    async logout(): Promise<void> {
        const hadSession = this.token !== null || this.mayHaveCookie;
        this.clear();
        if (hadSession) await this.post('logout').catch(() => undefined);
    }

    /** The session routes take a JSON body (what keeps other sites out) and the cookie, no bearer token. */
    post(route: 'login' | 'refresh' | 'logout', body: object = {}): Promise<Response> {
        return this.fetcher(`${this.baseUrl}${AUTH}/${route}`, {
            method: 'POST',
            credentials: 'same-origin',
            headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
            body: JSON.stringify(body),
        });
    }
}
