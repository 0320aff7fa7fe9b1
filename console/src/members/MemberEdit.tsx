import { Button, Dialog, DialogActions, DialogContent, DialogContentText, DialogTitle } from '@mui/material';
import { useState } from 'react';
import {
    Edit,
    NumberInput,
    SelectInput,
    SimpleForm,
    TextInput,
    useEditContext,
    useNotify,
    useRecordContext,
    useRedirect,
    useUpdate,
} from 'react-admin';

import { ApiError, CONFLICT_MESSAGE } from '../api';
import { errorMessage } from '../hooks';
import { choices, GENDERS } from './choices';

interface Attempt {
    id: string | number;
    data: Record<string, unknown>;
    previousData?: Record<string, unknown>;
}

/** Someone else saved first (412 on If-Match): reload their version, or overwrite it with this form. */
function ConflictDialog({ attempt, onClose }: { attempt: Attempt | null; onClose: () => void }) {
    const { refetch } = useEditContext();
    const [update] = useUpdate();
    const notify = useNotify();
    const redirect = useRedirect();
    return (
        <Dialog open={attempt !== null} onClose={onClose} aria-labelledby="conflict-title" data-testid="conflict">
            <DialogTitle id="conflict-title">Changed by someone else</DialogTitle>
            <DialogContent>
                <DialogContentText>{CONFLICT_MESSAGE}</DialogContentText>
            </DialogContent>
            <DialogActions>
                <Button
                    onClick={async () => {
                        onClose();
                        await refetch?.();
                    }}
                >
                    Reload
                </Button>
                <Button
                    color="error"
                    onClick={() => {
                        if (!attempt) return;
                        onClose();
                        update(
                            'members',
                            { ...attempt, meta: { overwrite: true } },
                            {
                                mutationMode: 'pessimistic',
                                onSuccess: () => {
                                    notify('Saved over the other change', { type: 'success' });
                                    redirect('show', 'members', attempt.id);
                                },
                                onError: error => notify(errorMessage(error), { type: 'error' }),
                            },
                        );
                    }}
                >
                    Overwrite
                </Button>
            </DialogActions>
        </Dialog>
    );
}

function MemberForm({ attempt, onClose }: { attempt: Attempt | null; onClose: () => void }) {
    const record = useRecordContext();
    // Keyed by version: a reload after a conflict shows the other operator's values, not the stale form.
    return (
        <SimpleForm key={String(record?.version)}>
            <TextInput source="name" />
            <TextInput source="phone" helperText="E.164, e.g. +821012345678" />
            <SelectInput source="gender" choices={choices(GENDERS)} />
            <NumberInput source="birth_year" label="Born" />
            <NumberInput source="profile.height_cm" label="Height (cm)" />
            <TextInput source="profile.education" label="Education" />
            <TextInput source="profile.job" label="Job" />
            <TextInput source="profile.region" label="Region" />
            <TextInput source="profile.bio" label="Bio" multiline />
            <ConflictDialog attempt={attempt} onClose={onClose} />
        </SimpleForm>
    );
}

export default function MemberEdit() {
    const notify = useNotify();
    const [attempt, setAttempt] = useState<Attempt | null>(null);
    return (
        <Edit
            mutationMode="pessimistic"
            redirect="show"
            mutationOptions={{
                onError: (error: unknown, variables: unknown) => {
                    if (error instanceof ApiError && error.isConflict) setAttempt(variables as Attempt);
                    else notify(errorMessage(error), { type: 'error' });
                },
            }}
        >
            <MemberForm attempt={attempt} onClose={() => setAttempt(null)} />
        </Edit>
    );
}
