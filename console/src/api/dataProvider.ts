/**
 * react-admin's dataProvider over Memberdesk's list conventions: native parameters (filters by name, `sort=-f`,
 * `limit`/`offset`, `cursor` for queues), totals from X-Total-Count, `getMany` with its range always sent,
 * If-Match on edits, an Idempotency-Key on every write (Http), problem+json as ApiError.
 *
 * Internal tools can use it as it is: `createDataProvider(new Http(session))`, or with an API key through a
 * Session-like object; see the README ("Reusing the console's dataProvider").
 */

import type { Problem } from './errors';
import type { Http, Query } from './http';

export type Identifier = string | number;
export type RaRecord = { id: Identifier; [key: string]: unknown };

export interface ListParams {
    pagination?: { page: number; perPage: number };
    sort?: { field: string; order: 'ASC' | 'DESC' | string };
    filter?: Record<string, unknown>;
    meta?: { cursor?: string | null };
}

/** Where each react-admin resource lives under /api/v1/admin. */
export const RESOURCES: Record<string, string> = {
    members: 'members',
    reviews: 'reviews/pending',
    audit: 'audit-log',
    operators: 'operators',
    'api-keys': 'api-keys',
    outbox: 'outbox',
    photos: 'photos',
    documents: 'documents',
    reports: 'reports',
    'reason-codes': 'reason-codes',
};

/** The bulk endpoint of each resource that has one: one request for the whole selection, one result per id. */
const BULK: Record<string, { path: string; method: 'POST' | 'PATCH' }> = {
    members: { path: 'members/bulk', method: 'POST' },
    photos: { path: 'photos', method: 'PATCH' },
    documents: { path: 'documents', method: 'PATCH' },
};

/** Lists reached through a record: resource -> path under its parent (`getManyReference`). */
const REFERENCES: Record<string, (id: Identifier) => string> = {
    notes: id => `members/${id}/notes`,
    history: id => `members/${id}/audit`,
};

/** Lists with one fixed order, which take no `sort` (the server refuses one). */
const FIXED_ORDER = new Set(['notes']);

function pathOf(resource: string): string {
    const path = RESOURCES[resource];
    if (!path) throw new Error(`Unknown resource: ${resource}`);
    return path;
}

export function filterQuery(filter: Record<string, unknown> = {}): Query {
    const query: Query = {};
    for (const [name, value] of Object.entries(filter)) {
        if (value === undefined || value === null || value === '') continue;
        if (Array.isArray(value)) {
            if (value.length) query[name] = value.map(String);
        } else if (typeof value === 'boolean' || typeof value === 'number') {
            query[name] = String(value);
        } else {
            query[name] = String(value);
        }
    }
    return query;
}

export function listQuery(params: ListParams): Query {
    const query = filterQuery(params.filter);
    if (params.sort?.field) query.sort = `${params.sort.order === 'DESC' ? '-' : ''}${params.sort.field}`;
    const { page, perPage } = params.pagination ?? { page: 1, perPage: 25 };
    query.limit = perPage;
    if (params.meta?.cursor) query.cursor = params.meta.cursor;
    else query.offset = (page - 1) * perPage;
    return query;
}

/** The fields of `data` that differ from `previous` (what a PATCH sends); nested objects whole. */
export function changedFields(data: Record<string, unknown>, previous: Record<string, unknown> = {}): Record<string, unknown> {
    const changed: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(data)) {
        if (JSON.stringify(value) !== JSON.stringify(previous[key])) changed[key] = value;
    }
    return changed;
}

function total(headers: Headers): number | undefined {
    const count = headers.get('X-Total-Count');
    if (count !== null) return Number(count);
    const range = headers.get('Content-Range')?.split('/')[1];
    return range && range !== '*' ? Number(range) : undefined;
}

/**
 * An estimated total (`Preference-Applied: count=estimated`: a search past 10,000 matches) kept consistent with the
 * rows seen: a full page leaves at least one more row to page to, a short one is the end (its total is then exact),
 * and an empty page past the end brings the total down to it (react-admin then goes back to the last page).
 */
export function pagedTotal(count: number | undefined, headers: Headers, offset: number, rows: number, perPage: number) {
    if (count === undefined || !/count=estimated/i.test(headers.get('Preference-Applied') ?? '')) return count;
    if (rows === 0 && offset > 0) return Math.min(count, offset);
    if (rows < perPage) return offset + rows;
    return Math.max(count, offset + rows + 1);
}

export function createDataProvider(http: Http) {
    async function list(path: string, params: ListParams) {
        const query = listQuery(params);
        const answer = await http.request<RaRecord[]>(path, { query });
        const nextCursor = answer.headers.get('X-Next-Cursor');
        const offset = Number(query.offset ?? 0);
        const count = pagedTotal(total(answer.headers), answer.headers, offset, answer.json.length, Number(query.limit));
        const page = params.pagination?.page ?? 1;
        return {
            data: answer.json,
            total: count,
            pageInfo: { hasNextPage: nextCursor !== null, hasPreviousPage: page > 1 },
            meta: { nextCursor },
        };
    }

    /** One request deciding every id (1 to 500); a refused id is a result, not an error. */
    async function bulk(resource: string, ids: Identifier[], data: Record<string, unknown>): Promise<BulkAnswer> {
        const endpoint = BULK[resource];
        if (!endpoint) throw new Error(`No bulk decisions on ${resource}`);
        const body = { ...data, ids: [...new Set(ids.map(String))] };
        return (await http.request<BulkAnswer>(endpoint.path, { method: endpoint.method, body })).json;
    }

    return {
        getList: (resource: string, params: ListParams) => list(pathOf(resource), params),

        getOne: async (resource: string, params: { id: Identifier }) => {
            const answer = await http.request<RaRecord>(`${pathOf(resource)}/${params.id}`);
            return { data: answer.json };
        },

        /** Always with its range: a server page size must never cut the answer short. */
        getMany: async (resource: string, params: { ids: Identifier[] }) => {
            const ids = [...new Set(params.ids.map(String))];
            if (!ids.length) return { data: [] };
            const answer = await http.request<RaRecord[]>(pathOf(resource), {
                query: { id: ids, limit: ids.length, offset: 0 },
            });
            return { data: answer.json };
        },

        getManyReference: (
            resource: string,
            params: ListParams & { target: string; id: Identifier },
        ) => {
            const nested = REFERENCES[resource];
            if (nested) return list(nested(params.id), FIXED_ORDER.has(resource) ? { ...params, sort: undefined } : params);
            return list(pathOf(resource), { ...params, filter: { ...params.filter, [params.target]: params.id } });
        },

        create: async (resource: string, params: { data: Record<string, unknown> }) => {
            const answer = await http.request<RaRecord>(pathOf(resource), { method: 'POST', body: params.data });
            return { data: answer.json };
        },

        /** PATCH of the changed fields, with If-Match of the version the form was loaded at (412 when stale);
         * `meta.overwrite` sends it without, after the operator chose to overwrite someone else's change. */
        update: async (
            resource: string,
            params: {
                id: Identifier;
                data: Record<string, unknown>;
                previousData?: Record<string, unknown>;
                meta?: { overwrite?: boolean };
            },
        ) => {
            const version = params.previousData?.version as number | undefined;
            const body = changedFields(params.data, params.previousData);
            delete body.version;
            const answer = await http.request<RaRecord>(`${pathOf(resource)}/${params.id}`, {
                method: 'PATCH',
                body,
                ifMatch: params.meta?.overwrite ? undefined : version,
            });
            return { data: answer.json };
        },

        delete: async (resource: string, params: { id: Identifier; previousData?: Record<string, unknown> }) => {
            const answer = await http.request<RaRecord>(`${pathOf(resource)}/${params.id}`, { method: 'DELETE' });
            return { data: answer.json ?? { id: params.id, ...params.previousData } };
        },

        /** The bulk endpoint (members: `POST /members/bulk` with `data.action`; photos and documents: `PATCH` with
         * `data.status`), one request for every id; answers the ids decided, and every result in `meta`. */
        updateMany: async (resource: string, params: { ids: Identifier[]; data: Record<string, unknown> }) => {
            const answer = await bulk(resource, params.ids, params.data);
            return { data: answer.results.filter(r => r.result === 'ok').map(r => r.id), meta: answer };
        },

        deleteMany: async (resource: string, params: { ids: Identifier[] }) => {
            for (const id of params.ids) await http.request(`${pathOf(resource)}/${id}`, { method: 'DELETE' });
            return { data: params.ids };
        },

        // Memberdesk's own calls, beyond react-admin's CRUD.
        dashboard: async () => (await http.request<DashboardStats>('dashboard/stats')).json,

        /** A decision on a member; reject and suspend say why (`reason_code`, and `reason` for `other`). */
        review: async (
            id: Identifier,
            action: 'approve' | 'reject' | 'suspend',
            why?: { reason_code: string; reason?: string },
        ) => (await http.request<RaRecord>(`members/${id}/${action}`, { method: 'POST', body: why ?? {} })).json,

        bulk,

        /** Claim the oldest item of a queue nobody holds (`POST /reviews/next`): null when nothing waits. */
        claimNext: async (queue: ClaimQueue, exclude: Identifier[] = []): Promise<ClaimedItem | null> => {
            const body = exclude.length ? { queue, exclude: exclude.map(String) } : { queue };
            return (await http.request<ClaimedItem | undefined>('reviews/next', { method: 'POST', body })).json ?? null;
        },

        /** Give back one's claim on a skipped item (`POST /reviews/release`): it goes back to its queue. */
        release: async (queue: ClaimQueue, id: Identifier, options: { keepalive?: boolean } = {}): Promise<void> => {
            await http.request('reviews/release', { method: 'POST', body: { queue, id }, keepalive: options.keepalive });
        },

        /** Resolve a report: dismissed, or actioned with the decision it led to. */
        resolveReport: async (id: Identifier, resolution: { status: 'dismissed' | 'actioned'; action?: string; note?: string }) =>
            (await http.request<RaRecord>(`reports/${id}`, { method: 'PATCH', body: resolution })).json,

        /** The closed list of reason codes, in its order. */
        reasonCodes: async (): Promise<ReasonCode[]> => (await http.request<ReasonCode[]>('reason-codes')).json,

        restore: async (id: Identifier) =>
            (await http.request<RaRecord>(`members/${id}/restore`, { method: 'POST' })).json,

        addNote: async (memberId: Identifier, content: string) =>
            (await http.request<RaRecord>(`members/${memberId}/notes`, { method: 'POST', body: { content } })).json,

        updatePhoto: async (photoId: Identifier, change: { status?: string; reason_code?: string; reason?: string; display_order?: number }) =>
            (await http.request<RaRecord>(`photos/${photoId}`, { method: 'PATCH', body: change })).json,

        deletePhoto: async (photoId: Identifier) =>
            (await http.request<RaRecord>(`photos/${photoId}`, { method: 'DELETE' })).json,

        /** Start the upload, send the file straight to S3 with the presigned form, then have the server check it. */
        uploadPhoto: async (memberId: Identifier, file: File, post: typeof fetch = globalThis.fetch) => {
            const started = await http.request<UploadStarted>(`members/${memberId}/photos`, {
                method: 'POST',
                body: { content_type: file.type, size_bytes: file.size },
            });
            const form = new FormData();
            for (const [name, value] of Object.entries(started.json.upload.fields)) form.append(name, value);
            form.append(started.json.upload.file_field, file);
            // The bucket is another origin: the answer is opaque (no-cors); `complete` is what checks the upload.
            await post(started.json.upload.url, { method: 'POST', body: form, mode: 'no-cors' });
            return (await http.request<RaRecord>(`photos/${started.json.id}/complete`, { method: 'POST' })).json;
        },

        /** A short-lived URL of a document (served as an attachment); for an identity document the server logs it. */
        documentUrl: async (documentId: Identifier): Promise<string> =>
            (await http.request<{ url: string }>(`documents/${documentId}/url`, { method: 'POST' })).json.url,

        retryOutbox: async (eventId: Identifier) =>
            (await http.request<RaRecord>(`outbox/${eventId}/retry`, { method: 'POST' })).json,

        /** The members matching `filter`, sorted, as a CSV file (no paging: the whole selection). */
        exportMembers: async (filter: Record<string, unknown>, sort?: ListParams['sort']): Promise<Blob> => {
            const query = filterQuery(filter);
            if (sort?.field) query.sort = `${sort.order === 'DESC' ? '-' : ''}${sort.field}`;
            return (await http.send('members/export.csv', { query, headers: { Accept: 'text/csv' } })).blob();
        },
    };
}

export type MemberdeskDataProvider = ReturnType<typeof createDataProvider>;

export interface UploadStarted extends RaRecord {
    upload: { url: string; fields: Record<string, string>; file_field: string; expires_at: string; max_bytes: number };
}

export type BulkResult = 'ok' | 'conflict' | 'claimed' | 'not_found';

export interface BulkAnswer {
    results: { id: string; result: BulkResult; status: number; problem: Problem | null }[];
    summary: { total: number; ok: number; conflict: number; not_found: number; claimed: number };
}

export type ClaimQueue = 'members' | 'photos' | 'documents' | 'reports';

export interface ClaimedItem {
    queue: ClaimQueue;
    id: string;
    claimed_by: string;
    claimed_until: string;
    waiting_since: string;
    member: { id: string; name: string; status: string };
    [key: string]: unknown;
}

export interface ReasonCode {
    id: string;
    label: string;
    reason_required: boolean;
}

export interface QueueFigures {
    waiting: number;
    oldest_at: string | null;
    oldest_age_seconds: number | null;
}

export interface DashboardStats {
    total_members: number;
    monthly_signups: number;
    weekly_signups: number;
    today_signups: number;
    male_count: number;
    female_count: number;
    pending_reviews: number;
    subscriptions_by_plan: { plan: string; active: number }[] | null;
    moderation_queue: { photos_pending: number; documents_pending: number } | null;
    signups_per_day: { day: string; signups: number }[] | null;
    queues: { members: QueueFigures; photos: QueueFigures; documents: QueueFigures; reports: QueueFigures } | null;
    degraded: string[];
}
