import { useDataProvider, usePermissions } from 'react-admin';

import { allowed, type MemberdeskDataProvider, type Role } from './api';

/** Memberdesk's dataProvider with its own calls (review, photos, notes, export ...). */
export function useMemberdesk(): MemberdeskDataProvider {
    return useDataProvider() as unknown as MemberdeskDataProvider;
}

/** Whether the operator's role allows `action` on `resource` (what is shown; the server decides). */
export function useAllowed(resource: string, action: string): boolean {
    const { permissions } = usePermissions<Role>();
    return allowed(permissions, resource, action);
}

export function errorMessage(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}
