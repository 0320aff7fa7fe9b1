import { Datagrid, DateField, FunctionField, Pagination, ReferenceManyField, TextField } from 'react-admin';

/** The member's audit rows: who changed what, newest first. */
export function History() {
    return (
        <ReferenceManyField
            reference="history"
            target="member_id"
            perPage={25}
            sort={{ field: 'created_at', order: 'DESC' }}
            pagination={<Pagination />}
        >
            <Datagrid bulkActionButtons={false} rowClick={false}>
                <DateField source="created_at" showTime label="When" />
                <TextField source="action" />
                <TextField source="actor_type" label="By" />
                <FunctionField
                    label="Changes"
                    render={row =>
                        Object.entries((row.changes as Record<string, { before: unknown; after: unknown }>) ?? {})
                            .map(([field, change]) => `${field}: ${JSON.stringify(change?.before)} → ${JSON.stringify(change?.after)}`)
                            .join('; ')
                    }
                />
            </Datagrid>
        </ReferenceManyField>
    );
}
