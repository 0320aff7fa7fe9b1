import { Box, Button, TextField as MuiTextField } from '@mui/material';
import { useState } from 'react';
import {
    Datagrid,
    DateField,
    Pagination,
    ReferenceManyField,
    TextField,
    useNotify,
    useRecordContext,
    useRefresh,
} from 'react-admin';

import { errorMessage, useAllowed, useMemberdesk } from '../hooks';

/** Operators' notes and review decisions, newest first; moderators add one. */
export function Notes() {
    const record = useRecordContext();
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const refresh = useRefresh();
    const canWrite = useAllowed('members', 'note');
    const [content, setContent] = useState('');
    if (!record) return null;

    async function add() {
        if (!record) return;
        try {
            await memberdesk.addNote(record.id, content.trim());
            setContent('');
            notify('Note added', { type: 'success' });
            refresh();
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        }
    }

    return (
        <Box>
            {canWrite && (
                <Box component="form" sx={{ display: 'flex', gap: 1, mb: 2 }} onSubmit={e => (e.preventDefault(), void add())}>
                    <MuiTextField label="New note" name="note" value={content} onChange={e => setContent(e.target.value)} fullWidth multiline />
                    <Button type="submit" variant="contained" disabled={!content.trim()}>
                        Add
                    </Button>
                </Box>
            )}
            <ReferenceManyField reference="notes" target="member_id" perPage={25} pagination={<Pagination />}>
                <Datagrid bulkActionButtons={false} rowClick={false}>
                    <DateField source="created_at" showTime label="When" />
                    <TextField source="kind" />
                    <TextField source="content" />
                </Datagrid>
            </ReferenceManyField>
        </Box>
    );
}
