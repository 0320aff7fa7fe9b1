import { Box, Button, Typography } from '@mui/material';
import { type ReactElement, type ReactNode, useEffect, useRef, useState } from 'react';
import { List, type ListProps, useListContext } from 'react-admin';

/** Next and previous pages by the queue's keyset cursor (X-Next-Cursor), with the exact number waiting. */
function CursorPagination({ cursors, setCursors }: { cursors: (string | null)[]; setCursors: (next: (string | null)[]) => void }) {
    const { meta, total, filterValues, data, isPending } = useListContext();
    const filters = JSON.stringify(filterValues);
    const seen = useRef(filters);
    useEffect(() => {
        // Another filter is another queue: back to its first page.
        if (seen.current !== filters) {
            seen.current = filters;
            setCursors([null]);
        }
    }, [filters, setCursors]);
    const next = (meta as { nextCursor?: string | null } | undefined)?.nextCursor ?? null;
    return (
        <Box sx={{ display: 'flex', alignItems: 'center', justifyContent: 'flex-end', gap: 2, p: 1 }}>
            <Typography variant="body2" data-testid="queue-total">
                {total !== undefined ? `${total.toLocaleString()} in this queue` : ''}
                {cursors.length > 1 ? ` · page ${cursors.length}` : ''}
            </Typography>
            <Button size="small" disabled={cursors.length < 2 || isPending} onClick={() => setCursors(cursors.slice(0, -1))}>
                Previous page
            </Button>
            <Button size="small" disabled={!next || isPending || !data?.length} onClick={() => setCursors([...cursors, next])}>
                Next page
            </Button>
        </Box>
    );
}

/** A react-admin List of a queue, paged by cursor: each page costs what the first does, however deep. */
export function CursorList({ children, ...props }: Omit<ListProps, 'pagination' | 'queryOptions'> & { children: ReactNode }): ReactElement {
    const [cursors, setCursors] = useState<(string | null)[]>([null]);
    return (
        <List
            {...props}
            disableSyncWithLocation
            queryOptions={{ meta: { cursor: cursors[cursors.length - 1] } }}
            pagination={<CursorPagination cursors={cursors} setCursors={setCursors} />}
        >
            {children}
        </List>
    );
}
