import { BooleanInput, Edit, PasswordInput, SelectInput, SimpleForm, TextInput } from 'react-admin';

import { ROLES } from './roles';

/** Name, role, access and a new password: changing the last three ends the operator's sessions. */
export default function OperatorEdit() {
    return (
        <Edit mutationMode="pessimistic" redirect="list">
            <SimpleForm>
                <TextInput source="email" disabled />
                <TextInput source="name" />
                <SelectInput source="role" choices={ROLES} />
                <BooleanInput source="is_active" label="Active" />
                <PasswordInput source="password" helperText="Leave empty to keep; a new one ends their sessions" />
            </SimpleForm>
        </Edit>
    );
}
