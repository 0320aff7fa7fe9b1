import { Box } from '@mui/material';
import { DateField, FunctionField, SelectInput, TextField } from 'react-admin';

import { ModerationQueue } from './ModerationQueue';

const STATUSES = ['pending', 'approved', 'rejected', 'uploading'].map(id => ({ id, name: id }));
const filters = [<SelectInput key="status" source="status" choices={STATUSES} alwaysOn emptyText="Any status" />];

type Row = Record<string, unknown> & { member?: { name?: string } };
const photoOf = (record: Row | undefined, id: string) => (record?.member?.name ? `Photo of ${record.member.name}` : id);

/** The photo queue (`GET /photos`, oldest first, by cursor): select photos, approve or reject them in one request. */
export default function PhotoQueue() {
    return (
        <ModerationQueue
            resource="photos"
            title="Photo queue"
            filters={filters}
            label={photoOf}
            decisions={[
                { label: 'Approve', data: { status: 'approved' }, color: 'success' },
                { label: 'Reject', data: { status: 'rejected' }, asksWhy: true, color: 'error' },
            ]}
        >
            <FunctionField
                label="Photo"
                sortable={false}
                render={(record: Row) =>
                    record.url ? (
                        <Box
                            component="img"
                            src={String(record.url)}
                            alt={photoOf(record, String(record.id))}
                            sx={{ height: 120, width: 96, objectFit: 'cover', borderRadius: 1, display: 'block' }}
                        />
                    ) : (
                        'uploading'
                    )
                }
            />
            <TextField source="member.name" label="Member" sortable={false} />
            <TextField source="member.status" label="Member status" sortable={false} />
            <TextField source="status" sortable={false} />
            <TextField source="reason_code" label="Reason" sortable={false} emptyText="" />
            <DateField source="created_at" label="Uploaded" showTime />
        </ModerationQueue>
    );
}
