/**
 * What each role may do in the console, as the server decides it (tests/api/test_authorization.py): the console
 * only hides what would be refused. viewer reads; moderator also reviews, moderates photos and writes notes;
 * admin does everything, edits and deletes members and manages operators, keys and the outbox.
 */

export type Role = 'viewer' | 'moderator' | 'admin';

const RANK: Record<Role, number> = { viewer: 0, moderator: 1, admin: 2 };

/** resource -> action -> the least role allowed; '*' for any other action of the resource. */
const RULES: Record<string, Record<string, Role>> = {
    dashboard: { '*': 'viewer' },
    members: {
        list: 'viewer',
        show: 'viewer',
        export: 'viewer',
        review: 'moderator',
        moderate: 'moderator',
        note: 'moderator',
        edit: 'admin',
        create: 'admin',
        delete: 'admin',
        '*': 'admin',
    },
    reviews: { list: 'viewer', show: 'viewer', review: 'moderator', '*': 'moderator' },
    photos: { list: 'viewer', moderate: 'moderator', '*': 'moderator' },
    documents: { list: 'viewer', moderate: 'moderator', '*': 'moderator' },
    reports: { list: 'viewer', moderate: 'moderator', '*': 'moderator' },
    notes: { list: 'viewer', create: 'moderator', '*': 'moderator' },
    history: { list: 'viewer', '*': 'admin' },
    audit: { list: 'viewer', show: 'viewer', '*': 'admin' },
    operators: { '*': 'admin' },
    'api-keys': { '*': 'admin' },
    outbox: { '*': 'admin' },
};

export function allowed(role: Role | null | undefined, resource: string, action: string): boolean {
    if (!role || !(role in RANK)) return false;
    const rules = RULES[resource];
    if (!rules) return false;
    const least = rules[action] ?? rules['*'];
    return least !== undefined && RANK[role] >= RANK[least];
}
