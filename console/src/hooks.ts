import { useQueryClient } from '@tanstack/react-query';
import { type DataProvider, removeEmpty, useDataProvider, useListContext, usePermissions } from 'react-admin';

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

/** How long a list page just fetched counts as fresh: the list that shows it a moment after a filter click (below)
 * takes it as it is instead of asking again. Writes still refresh it at once (react-admin invalidates on success). */
export const LIST_FRESH_MS = 5_000;

/**
 * setFilters for a filter clicked on (a toggle, not typed text: text search keeps react-admin's debounce), which
 * asks for the new first page at the click. react-admin would ask only after rendering the list with the new filter
 * and the old rows (a transition render and its effects, 100 ms and more on a busy machine); the request now runs
 * meanwhile, and the list finds it in flight or answered under the key of ra-core 5's useGetList,
 * `[resource, 'getList', {pagination, sort, filter, meta}]` (tests/browser/test_console.py checks that one click
 * sends one request).
 */
export function useSetFiltersNow(): (filter: Record<string, unknown>) => void {
    const { resource, sort, perPage, displayedFilters, setFilters } = useListContext();
    const dataProvider = useDataProvider<DataProvider>();
    const queryClient = useQueryClient();
    return filter => {
        const params = { pagination: { page: 1, perPage }, sort, filter: removeEmpty(filter), meta: undefined };
        void queryClient.prefetchQuery({
            queryKey: [resource, 'getList', params],
            queryFn: () =>
                dataProvider
                    .getList(resource, params)
                    .then(({ data, total, pageInfo, meta }) => ({ data, total, pageInfo, meta })),
        });
        setFilters(filter, displayedFilters);
    };
}
