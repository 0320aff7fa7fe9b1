/**
 * Every call of the console to the API: the bearer token from the session (renewed before expiry, and once
 * more on a 401), an Idempotency-Key on every write (a retried write is answered, not done twice),
 * problem+json turned into ApiError, and a 503 to a write noted as "the primary is down".
 */

import { ApiError, type Problem } from './errors';
import type { Session } from './session';
import { serverStatus } from './status';

export const API = '/api/v1/admin';

export type Query = Record<string, string | number | boolean | (string | number)[] | null | undefined>;

export interface RequestOptions {
    method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    query?: Query;
    body?: unknown;
    headers?: Record<string, string>;
    /** The version the edit was based on: sent as If-Match, so a stale edit is a 412. */
    ifMatch?: number | string | null;
    /** Outlive the page (a claim given back as the tab closes). */
    keepalive?: boolean;
}

export interface Answer<T> {
    status: number;
    headers: Headers;
    json: T;
}

export function queryString(query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
        if (value === undefined || value === null || value === '') continue;
        for (const one of Array.isArray(value) ? value : [value]) params.append(name, String(one));
    }
    const text = params.toString();
    return text ? `?${text}` : '';
}

export function newIdempotencyKey(): string {
    return globalThis.crypto.randomUUID();
}

export interface HttpOptions {
    baseUrl?: string;
    fetch?: typeof fetch;
}

export class Http {
    private readonly baseUrl: string;
    private readonly fetcher: typeof fetch;

    constructor(
        readonly session: Session,
        options: HttpOptions = {},
    ) {
        this.baseUrl = options.baseUrl ?? '';
        this.fetcher = options.fetch ?? ((...args) => globalThis.fetch(...args));
    }

    url(path: string, query?: Query): string {
        const full = path.startsWith('/') ? path : `${API}/${path}`;
        return `${this.baseUrl}${full}${queryString(query)}`;
    }

    async request<T = unknown>(path: string, options: RequestOptions = {}): Promise<Answer<T>> {
        const response = await this.send(path, options);
        const text = await response.text();
        const json = text ? (JSON.parse(text) as T) : (undefined as T);
        return { status: response.status, headers: response.headers, json };
    }

    /** The raw response of a successful call (a CSV download), or the ApiError of a failed one. */
    async send(path: string, options: RequestOptions = {}): Promise<Response> {
        const method = options.method ?? 'GET';
        const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
        if (options.body !== undefined) headers['Content-Type'] = 'application/json';
        if (method !== 'GET') headers['Idempotency-Key'] = newIdempotencyKey(); // the same key on the retry below
        if (options.ifMatch !== undefined && options.ifMatch !== null) headers['If-Match'] = `"${options.ifMatch}"`;
        const init: RequestInit = {
            method,
            headers,
            credentials: 'same-origin',
            keepalive: options.keepalive,
            body: options.body === undefined ? undefined : JSON.stringify(options.body),
        };
        const token = await this.session.validToken();
        // No session (never logged in, or ended): nothing to ask the server, whose answer would be a 401.
        if (token === null) throw new ApiError(401, { title: 'Unauthorized', detail: 'Your session has ended: please log in.' });
        let response = await this.attempt(path, options.query, init, token);
        if (response.status === 401 && (await this.session.refresh())) {
            response = await this.attempt(path, options.query, init, await this.session.validToken());
        }
        if (method !== 'GET' && response.status === 503) serverStatus.set(true);
        if (!response.ok) throw new ApiError(response.status, await problemOf(response));
        return response;
    }

    private attempt(path: string, query: Query | undefined, init: RequestInit, token: string | null) {
        const headers = { ...(init.headers as Record<string, string>) };
        if (token) headers.Authorization = `Bearer ${token}`;
        return this.fetcher(this.url(path, query), { ...init, headers });
    }
}

async function problemOf(response: Response): Promise<Problem> {
    try {
        const body = (await response.json()) as Problem;
        return typeof body === 'object' && body !== null ? body : { detail: String(body) };
    } catch {
        return { title: response.statusText || `HTTP ${response.status}` };
    }
}
