import { Datagrid, DateField, DateInput, FunctionField, List, SelectInput, TextField, TextInput } from 'react-admin';

const filters = [
    <TextInput key="action" source="action" label="Action" alwaysOn />,
    <TextInput key="entity" source="entity" label="Entity type" />,
    <TextInput key="entity_id" source="entity_id" label="Entity id" />,
    <SelectInput
        key="actor_type"
        source="actor_type"
        label="Actor type"
        choices={['operator', 'api_key', 'system', 'anonymous'].map(id => ({ id, name: id }))}
    />,
    <DateInput key="from" source="created_from" label="From" />,
    <DateInput key="to" source="created_to" label="To" />,
];

export default function AuditList() {
    return (
        <List title="Audit log" filters={filters} sort={{ field: 'created_at', order: 'DESC' }}>
            <Datagrid bulkActionButtons={false} rowClick={false}>
                <DateField source="created_at" showTime sortable={false} label="When" />
                <TextField source="action" sortable={false} />
                <TextField source="actor_type" sortable={false} label="By" />
                <TextField source="entity_type" sortable={false} label="Entity" />
                <TextField source="entity_id" sortable={false} label="Id" />
                <FunctionField
                    label="Changes"
                    render={row =>
                        Object.entries((row.changes as Record<string, { before: unknown; after: unknown }>) ?? {})
                            .map(([field, c]) => `${field}: ${JSON.stringify(c?.before)} → ${JSON.stringify(c?.after)}`)
                            .join('; ')
                    }
                />
            </Datagrid>
        </List>
    );
}
