import { Button } from '@mui/material';
import { Datagrid, DateField, FunctionField, List, SelectInput, TextField, useNotify, useRefresh } from 'react-admin';

import { errorMessage, useMemberdesk } from '../hooks';

const filters = [
    <SelectInput
        key="status"
        source="status"
        alwaysOn
        choices={['dead', 'pending', 'delivered'].map(id => ({ id, name: id }))}
    />,
];

function RetryButton({ id }: { id: number }) {
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const refresh = useRefresh();
    return (
        <Button
            size="small"
            onClick={() =>
                memberdesk.retryOutbox(id).then(
                    () => (notify('Event queued again', { type: 'info' }), refresh()),
                    error => notify(errorMessage(error), { type: 'error' }),
                )
            }
        >
            Retry
        </Button>
    );
}

/** Side effects that could not be delivered, with a retry each. */
export default function OutboxList() {
    return (
        <List title="Outbox events" filters={filters} filterDefaultValues={{ status: 'dead' }} sort={{ field: 'created_at', order: 'DESC' }}>
            <Datagrid bulkActionButtons={false} rowClick={false}>
                <TextField source="id" sortable={false} />
                <TextField source="topic" sortable={false} />
                <TextField source="status" sortable={false} />
                <TextField source="attempts" sortable={false} />
                <TextField source="last_error" sortable={false} emptyText="—" />
                <DateField source="created_at" showTime sortable={false} />
                <FunctionField label="" render={row => (row.status === 'dead' ? <RetryButton id={Number(row.id)} /> : null)} />
            </Datagrid>
        </List>
    );
}
