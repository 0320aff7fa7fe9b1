import { DateField, FunctionField, SelectInput, TextField } from 'react-admin';

import { DocumentLink, type DocumentItem } from '../members/DocumentLink';
import { ModerationQueue } from './ModerationQueue';

const STATUSES = ['pending', 'verified', 'rejected', 'uploading'].map(id => ({ id, name: id }));
const TYPES = ['identity', 'employment', 'education', 'income'].map(id => ({ id, name: id }));
const filters = [
    <SelectInput key="status" source="status" choices={STATUSES} alwaysOn emptyText="Any status" />,
    <SelectInput key="doc_type" source="doc_type" label="Type" choices={TYPES} alwaysOn emptyText="Any type" />,
];

type Row = Record<string, unknown> & { member?: { name?: string } };
const documentOf = (record: Row | undefined, id: string) =>
    record?.member?.name ? `${String(record.doc_type)} document of ${record.member.name}` : id;

/** The document queue (`GET /documents`, oldest first, by cursor): select documents, verify or reject them in one
 * request. */
export default function DocumentQueue() {
    return (
        <ModerationQueue
            resource="documents"
            title="Document queue"
            filters={filters}
            label={documentOf}
            decisions={[
                { label: 'Verify', data: { status: 'verified' }, color: 'success' },
                { label: 'Reject', data: { status: 'rejected' }, asksWhy: true, color: 'error' },
            ]}
        >
            <TextField source="doc_type" label="Type" sortable={false} />
            <TextField source="member.name" label="Member" sortable={false} />
            <TextField source="member.status" label="Member status" sortable={false} />
            <TextField source="status" sortable={false} />
            <TextField source="reason_code" label="Reason" sortable={false} emptyText="" />
            <DateField source="created_at" label="Uploaded" showTime />
            <FunctionField
                label="File"
                sortable={false}
                render={(record: Row) => (
                    <DocumentLink doc={record as unknown as DocumentItem} label={documentOf(record, String(record.id))} />
                )}
            />
        </ModerationQueue>
    );
}
