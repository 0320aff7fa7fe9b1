import { BooleanField, CreateButton, Datagrid, DateField, EditButton, List, SearchInput, SelectInput, TextField, TopToolbar } from 'react-admin';

import { ROLES } from './roles';

const filters = [
    <SearchInput key="q" source="q" alwaysOn placeholder="Email or name" aria-label="Search operators" />,
    <SelectInput key="role" source="role" choices={ROLES} />,
];

export default function OperatorList() {
    return (
        <List
            title="Operators"
            filters={filters}
            sort={{ field: 'created_at', order: 'ASC' }}
            actions={
                <TopToolbar>
                    <CreateButton />
                </TopToolbar>
            }
        >
            <Datagrid bulkActionButtons={false} rowClick={false}>
                <TextField source="email" />
                <TextField source="name" />
                <TextField source="role" />
                <BooleanField source="is_active" label="Active" />
                <DateField source="created_at" />
                <EditButton />
            </Datagrid>
        </List>
    );
}
