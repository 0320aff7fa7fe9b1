import type { ReactElement, ReactNode } from 'react';
import { Datagrid } from 'react-admin';

import { useAllowed } from '../hooks';
import { type BulkDecision, BulkDecisions } from './BulkDecisions';
import { CursorList } from './CursorList';

/** A queue of photos or documents: pending first by default, oldest first, paged by cursor, and (for a moderator)
 * bulk decisions on the selected rows. */
export function ModerationQueue({
    resource,
    title,
    filters,
    decisions,
    label,
    children,
}: {
    resource: 'photos' | 'documents';
    title: string;
    filters: ReactElement[];
    decisions: BulkDecision[];
    label: (record: Record<string, unknown> | undefined, id: string) => string;
    children: ReactNode;
}) {
    const canModerate = useAllowed(resource, 'moderate');
    return (
        <CursorList
            title={title}
            resource={resource}
            filters={filters}
            filterDefaultValues={{ status: 'pending' }}
            sort={{ field: 'created_at', order: 'ASC' }}
            perPage={50}
        >
            <Datagrid
                bulkActionButtons={canModerate ? <BulkDecisions resource={resource} label={label} decisions={decisions} /> : false}
                rowClick={false}
            >
                {children}
            </Datagrid>
        </CursorList>
    );
}
