import { describe, expect, it } from 'vitest';

import { allowed } from './access';
import { createAuthProvider } from './authProvider';
import { createDataProvider, listQuery } from './dataProvider';
import { ApiError, CONFLICT_MESSAGE } from './errors';
import { Http, queryString } from './http';
import { Session } from './session';

interface Call {
    url: string;
    init: RequestInit;
}

/** A fetch that answers from a queue of responses and records what it was asked. */
function fakeFetch(answers: Response[]) {
    const calls: Call[] = [];
    const fetcher = (async (url: string, init: RequestInit) => {
        calls.push({ url, init });
        const next = answers.shift();
        if (!next) throw new Error(`unexpected request ${url}`);
        return next;
    }) as unknown as typeof fetch;
    return { fetcher, calls };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
const problem = (status: number, body: object, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify({ type: 'about:blank', status, ...body }), {
        status,
        headers: { 'Content-Type': 'application/problem+json', ...headers },
    });
const header = (call: Call, name: string) => (call.init.headers as Record<string, string>)[name];

function setup(answers: Response[], now = () => 1_000_000) {
    const { fetcher, calls } = fakeFetch(answers);
    const session = new Session({ fetch: fetcher, now, sleep: async () => undefined });
    session.accept({ access_token: 'first', expires_in: 900 });
    const http = new Http(session, { fetch: fetcher });
    return { session, http, calls, data: createDataProvider(http) };
}

describe('dataProvider', () => {
    it('lists with native parameters and reads the exact total', async () => {
        const { data, calls } = setup([json([{ id: 'a' }], 200, { 'X-Total-Count': '319' })]);
        const result = await data.getList('members', {
            pagination: { page: 3, perPage: 50 },
            sort: { field: 'created_at', order: 'DESC' },
            filter: { status: ['pending', 'active'], has_photos: true, q: 'kim', gender: '' },
        });
        expect(result.total).toBe(319);
        const url = new URL(calls[0].url, 'http://x');
        expect(url.pathname).toBe('/api/v1/admin/members');
        expect(url.searchParams.getAll('status')).toEqual(['pending', 'active']);
        expect(url.searchParams.get('sort')).toBe('-created_at');
        expect(url.searchParams.get('limit')).toBe('50');
        expect(url.searchParams.get('offset')).toBe('100');
        expect(url.searchParams.get('has_photos')).toBe('true');
        expect(url.searchParams.has('gender')).toBe(false);
        expect(header(calls[0], 'Authorization')).toBe('Bearer first');
    });

    it('keeps an estimated total consistent with the rows a search has shown', async () => {
        const estimated = (total: number) => ({ 'X-Total-Count': String(total), 'Preference-Applied': 'count=estimated' });
        const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i) }));
        const { data } = setup([
            json(rows(25), 200, estimated(130_238)),
            json(rows(25), 200, estimated(10_001)),
            json(rows(7), 200, estimated(130_238)),
            json([], 200, estimated(130_238)),
            json(rows(25), 200, { 'X-Total-Count': '40' }),
        ]);
        const search = (page: number) => data.getList('members', { pagination: { page, perPage: 25 }, filter: { q: 'baek' } });
        expect((await search(1)).total).toBe(130_238); // the estimate as it came
        expect((await search(401)).total).toBe(10_026); // a full page past a low estimate: one more page to go
        expect((await search(4798)).total).toBe(4797 * 25 + 7); // a short page is the end: exact
        expect((await search(5210)).total).toBe(5209 * 25); // past the end: back to it
        expect((await search(1)).total).toBe(40); // an exact total is left alone
    });

    it('pages queues by cursor and says whether a page follows', async () => {
        const { data, calls } = setup([json([{ id: 'a' }], 200, { 'X-Next-Cursor': 'abc' })]);
        const result = await data.getList('reviews', { pagination: { page: 1, perPage: 20 }, meta: { cursor: 'xyz' } });
        expect(calls[0].url).toContain('/api/v1/admin/reviews/pending?limit=20&cursor=xyz');
        expect(result.pageInfo.hasNextPage).toBe(true);
        expect(result.meta.nextCursor).toBe('abc');
    });

    it('getMany always sends its range', async () => {
        const { data, calls } = setup([json([{ id: 'a' }, { id: 'b' }])]);
        await data.getMany('members', { ids: ['a', 'b', 'a'] });
        expect(calls[0].url).toBe('/api/v1/admin/members?id=a&id=b&limit=2&offset=0');
    });

    it('bulk decisions are one request to the bulk endpoint, answering the ids decided', async () => {
        const answer = {
            results: [
                { id: 'a', result: 'ok', status: 200, problem: null },
                { id: 'b', result: 'claimed', status: 409, problem: { detail: 'Kim is working on it' } },
            ],
            summary: { total: 2, ok: 1, conflict: 0, not_found: 0, claimed: 1 },
        };
        const { data, calls } = setup([json(answer), json(answer), json(answer)]);
        const members = await data.updateMany('members', { ids: ['a', 'b', 'a'], data: { action: 'reject', reason_code: 'spam' } });
        expect(calls[0].url).toBe('/api/v1/admin/members/bulk');
        expect(calls[0].init.method).toBe('POST');
        expect(JSON.parse(String(calls[0].init.body))).toEqual({ action: 'reject', reason_code: 'spam', ids: ['a', 'b'] });
        expect(header(calls[0], 'Idempotency-Key')).toMatch(/^[0-9a-f-]{36}$/);
        expect(members.data).toEqual(['a']);
        expect(members.meta.results[1].problem?.detail).toBe('Kim is working on it');
        await data.updateMany('photos', { ids: ['a', 'b'], data: { status: 'rejected', reason_code: 'nudity' } });
        expect([calls[1].url, calls[1].init.method]).toEqual(['/api/v1/admin/photos', 'PATCH']);
        await data.bulk('documents', ['a', 'b'], { status: 'verified' });
        expect([calls[2].url, calls[2].init.method]).toEqual(['/api/v1/admin/documents', 'PATCH']);
        expect(calls).toHaveLength(3);
        await expect(data.updateMany('operators', { ids: ['a'], data: {} })).rejects.toThrow('No bulk decisions');
    });

    it('claims the next item of a queue, null when nothing waits, and releases it', async () => {
        const item = { queue: 'members', id: 'm', member: { id: 'm', name: 'Kim', status: 'pending' } };
        const { data, calls } = setup([json(item), new Response(null, { status: 204 }), new Response(null, { status: 204 })]);
        expect((await data.claimNext('members'))?.id).toBe('m');
        expect(JSON.parse(String(calls[0].init.body))).toEqual({ queue: 'members' });
        expect(await data.claimNext('members')).toBeNull();
        await data.release('members', 'm');
        expect(calls[2].url).toBe('/api/v1/admin/reviews/release');
        expect(JSON.parse(String(calls[2].init.body))).toEqual({ queue: 'members', id: 'm' });
    });

    it('edits with If-Match, only the changed fields, and an Idempotency-Key', async () => {
        const { data, calls } = setup([json({ id: 'a', name: 'New', version: 4 })]);
        await data.update('members', {
            id: 'a',
            data: { id: 'a', name: 'New', phone: '+821012345678', version: 3 },
            previousData: { id: 'a', name: 'Old', phone: '+821012345678', version: 3 },
        });
        expect(calls[0].init.method).toBe('PATCH');
        expect(header(calls[0], 'If-Match')).toBe('"3"');
        expect(JSON.parse(String(calls[0].init.body))).toEqual({ name: 'New' });
        expect(header(calls[0], 'Idempotency-Key')).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('overwrites without If-Match when the operator chose to', async () => {
        const { data, calls } = setup([json({ id: 'a' })]);
        await data.update('members', { id: 'a', data: { name: 'x' }, previousData: { version: 3 }, meta: { overwrite: true } });
        expect(header(calls[0], 'If-Match')).toBeUndefined();
    });

    it('every write carries a fresh Idempotency-Key; reads none', async () => {
        const { data, calls } = setup([json({ id: 'n' }, 201), json({ id: 'n' }, 201), json([])]);
        await data.addNote('m', 'one');
        await data.addNote('m', 'two');
        await data.getList('members', {});
        const keys = calls.map(call => header(call, 'Idempotency-Key'));
        expect(keys[0]).toBeTruthy();
        expect(keys[1]).toBeTruthy();
        expect(keys[0]).not.toBe(keys[1]);
        expect(keys[2]).toBeUndefined();
    });

    it('shows a problem detail as the message', async () => {
        const { data } = setup([problem(404, { title: 'Not found', detail: 'No member with this id.' })]);
        await expect(data.getOne('members', { id: 'x' })).rejects.toMatchObject({
            message: 'No member with this id.',
            status: 404,
        });
    });

    it('maps 422 errors onto form fields', async () => {
        const { data } = setup([
            problem(422, {
                title: 'Unprocessable entity',
                detail: 'The request does not validate.',
                errors: [
                    { loc: ['body', 'name'], msg: 'String should have at least 1 character' },
                    { loc: ['body', 'profile', 'bio'], msg: 'Too long' },
                    { loc: ['query', 'x'], msg: 'ignored' },
                ],
            }),
        ]);
        const error = (await data
            .update('members', { id: 'a', data: { name: '' }, previousData: { version: 1 } })
            .catch(e => e)) as ApiError;
        expect(error.body.errors).toEqual({
            name: 'String should have at least 1 character',
            profile: { bio: 'Too long' },
            root: { serverError: 'The request does not validate.' },
        });
    });

    it('explains a stale edit as someone else\'s change', async () => {
        const { data } = setup([problem(412, { title: 'Precondition failed', detail: 'stale' })]);
        const error = (await data.update('members', { id: 'a', data: {}, previousData: { version: 1 } }).catch(e => e)) as ApiError;
        expect(error.message).toBe(CONFLICT_MESSAGE);
        expect(error.isConflict).toBe(true);
    });

    it('a 409 keeps its detail and adds the explanation', async () => {
        const { data } = setup([problem(409, { detail: 'The member is not pending.' })]);
        const error = (await data.review('a', 'approve').catch(e => e)) as ApiError;
        expect(error.message).toContain('The member is not pending.');
        expect(error.message).toContain('reload');
    });
});

describe('session', () => {
    it('refreshes once on a 401 and retries with the new token', async () => {
        const { data, calls } = setup([
            problem(401, { detail: 'expired' }),
            json({ access_token: 'second', expires_in: 900 }),
            json({ id: 'a' }),
        ]);
        await data.getOne('members', { id: 'a' });
        expect(calls[1].url).toBe('/api/v1/auth/refresh');
        expect(calls[1].init.body).toBe('{}');
        expect(header(calls[1], 'Content-Type')).toBe('application/json');
        expect(header(calls[2], 'Authorization')).toBe('Bearer second');
    });

    it('gives up after one refresh: the error reaches react-admin', async () => {
        const { data, calls } = setup([problem(401, {}), problem(401, { detail: 'ended' })]);
        await expect(data.getOne('members', { id: 'a' })).rejects.toMatchObject({ status: 401 });
        expect(calls).toHaveLength(2);
    });

    it('renews shortly before expiry, without waiting for a 401', async () => {
        let now = 0;
        const { data, calls } = setup(
            [json({ access_token: 'second', expires_in: 900 }), json({ id: 'a' })],
            () => now,
        );
        now = 880_000; // 20 s left
        await data.getOne('members', { id: 'a' });
        expect(calls[0].url).toBe('/api/v1/auth/refresh');
        expect(header(calls[1], 'Authorization')).toBe('Bearer second');
    });

    it('one refresh at a time, and a 409 (another tab) is retried once', async () => {
        const { session, calls } = setup([
            problem(409, { detail: 'concurrent' }, { 'Retry-After': '1' }),
            json({ access_token: 'third', expires_in: 900 }),
        ]);
        const results = await Promise.all([session.refresh(), session.refresh()]);
        expect(results).toEqual([true, true]);
        expect(calls).toHaveLength(2);
        expect(await session.validToken()).toBe('third');
    });
});

function memoryStorage() {
    const items = new Map<string, string>();
    return {
        getItem: (key: string) => items.get(key) ?? null,
        setItem: (key: string, value: string) => void items.set(key, value),
        removeItem: (key: string) => void items.delete(key),
    };
}

describe('session hint', () => {
    it('a browser that never logged in asks for no refresh; one that did, does', async () => {
        const storage = memoryStorage();
        const { fetcher, calls } = fakeFetch([json({ access_token: 'tok', expires_in: 900 })]);
        const fresh = new Session({ fetch: fetcher, storage });
        expect(await fresh.validToken()).toBeNull();
        expect(calls).toHaveLength(0);
        fresh.accept({ access_token: 'old', expires_in: 900 });
        const reloaded = new Session({ fetch: fetcher, storage }); // a reload: the token is gone, the hint is not
        expect(await reloaded.validToken()).toBe('tok');
        await reloaded.logout().catch(() => undefined);
        expect(storage.getItem('memberdesk.session')).toBeNull();
    });
});

describe('without a session', () => {
    it('asks the server nothing and fails as a 401', async () => {
        const { fetcher, calls } = fakeFetch([]);
        const session = new Session({ fetch: fetcher, storage: memoryStorage() });
        const data = createDataProvider(new Http(session, { fetch: fetcher }));
        await expect(data.getList('members', {})).rejects.toMatchObject({ status: 401 });
        expect(calls).toHaveLength(0);
    });
});

describe('authProvider', () => {
    it('logs in with the email, keeps the token in memory and reads the role', async () => {
        const { fetcher, calls } = fakeFetch([
            json({ access_token: 'tok', expires_in: 900 }),
            json({ kind: 'operator', id: 'o', name: 'Mo', role: 'moderator' }),
        ]);
        const session = new Session({ fetch: fetcher });
        const auth = createAuthProvider(session, new Http(session, { fetch: fetcher }));
        await auth.login({ username: 'mo@example.com', password: 'pw' });
        expect(JSON.parse(String(calls[0].init.body))).toEqual({ email: 'mo@example.com', password: 'pw' });
        expect(calls[0].init.credentials).toBe('same-origin');
        expect(await auth.getPermissions()).toBe('moderator');
        expect(await auth.canAccess({ resource: 'members', action: 'review' })).toBe(true);
        expect(await auth.canAccess({ resource: 'members', action: 'edit' })).toBe(false);
    });

    it('checkAuth renews from the cookie after a reload, and fails without one', async () => {
        const { fetcher } = fakeFetch([json({ access_token: 'tok', expires_in: 900 }), problem(401, {})]);
        const session = new Session({ fetch: fetcher });
        const auth = createAuthProvider(session, new Http(session, { fetch: fetcher }));
        await expect(auth.checkAuth()).resolves.toBeUndefined();
        session.clear();
        await expect(auth.checkAuth()).rejects.toThrow('log in');
    });

    it('a first visit goes to the login page without a message', async () => {
        const session = new Session({ fetch: fakeFetch([]).fetcher, storage: memoryStorage() });
        const auth = createAuthProvider(session, new Http(session));
        await expect(auth.checkAuth()).rejects.toEqual({ message: false });
    });

    it('logout ends the server session and forgets the token', async () => {
        const { fetcher, calls } = fakeFetch([new Response(null, { status: 204 })]);
        const session = new Session({ fetch: fetcher });
        session.accept({ access_token: 'tok', expires_in: 900 });
        await createAuthProvider(session, new Http(session, { fetch: fetcher })).logout();
        expect(calls[0].url).toBe('/api/v1/auth/logout');
        expect(session.hasToken).toBe(false);
    });

    it('a 403 keeps the operator logged in; a 401 does not', async () => {
        const session = new Session({ fetch: fakeFetch([]).fetcher });
        const auth = createAuthProvider(session, new Http(session));
        await expect(auth.checkError({ status: 403 })).resolves.toBeUndefined();
        await expect(auth.checkError({ status: 401 })).rejects.toThrow();
    });
});

describe('access', () => {
    it('a viewer reads and does nothing else', () => {
        expect(allowed('viewer', 'members', 'list')).toBe(true);
        for (const action of ['edit', 'delete', 'review', 'moderate', 'note', 'create']) {
            expect(allowed('viewer', 'members', action)).toBe(false);
        }
        expect(allowed('viewer', 'operators', 'list')).toBe(false);
        expect(allowed('admin', 'operators', 'list')).toBe(true);
        expect(allowed(null, 'members', 'list')).toBe(false);
    });
});

describe('query strings', () => {
    it('repeats multi-valued parameters and drops empty ones', () => {
        expect(queryString({ id: ['a', 'b'], q: '', x: undefined, n: 0 })).toBe('?id=a&id=b&n=0');
        expect(listQuery({})).toEqual({ limit: 25, offset: 0 });
    });
});
