import { Create, PasswordInput, required, SelectInput, SimpleForm, TextInput } from 'react-admin';

import { ROLES } from './roles';

export default function OperatorCreate() {
    return (
        <Create redirect="list">
            <SimpleForm>
                <TextInput source="email" type="email" validate={required()} />
                <TextInput source="name" validate={required()} />
                <SelectInput source="role" choices={ROLES} validate={required()} />
                <PasswordInput source="password" helperText="12 characters or more" validate={required()} />
            </SimpleForm>
        </Create>
    );
}
