import ContentCopyIcon from '@mui/icons-material/ContentCopy';
import {
    Alert,
    Button,
    Dialog,
    DialogActions,
    DialogContent,
    DialogTitle,
    MenuItem,
    TextField as MuiTextField,
} from '@mui/material';
import { useState } from 'react';
import {
    Datagrid,
    DateField,
    FunctionField,
    List,
    TextField,
    TopToolbar,
    useDataProvider,
    useNotify,
    useRefresh,
} from 'react-admin';

import { errorMessage } from '../hooks';
import { ROLES } from './roles';

/** A new key is shown once, here, with a copy button: the server keeps only its hash. */
function NewKey() {
    const dataProvider = useDataProvider();
    const notify = useNotify();
    const refresh = useRefresh();
    const [open, setOpen] = useState(false);
    const [name, setName] = useState('');
    const [role, setRole] = useState('viewer');
    const [key, setKey] = useState<string | null>(null);

    async function create() {
        try {
            const { data } = await dataProvider.create('api-keys', { data: { name, role } });
            setKey(String(data.key));
            refresh();
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        }
    }
    function close() {
        setOpen(false);
        setKey(null);
        setName('');
    }
    return (
        <>
            <Button onClick={() => setOpen(true)}>New key</Button>
            <Dialog open={open} onClose={close} aria-labelledby="new-key-title" fullWidth>
                <DialogTitle id="new-key-title">{key ? 'The new key' : 'New API key'}</DialogTitle>
                <DialogContent>
                    {key ? (
                        <>
                            <Alert severity="warning" sx={{ mb: 2 }}>
                                Copy it now: it is shown this once and cannot be read again.
                            </Alert>
                            <MuiTextField value={key} label="Key" fullWidth slotProps={{ input: { readOnly: true } }} data-testid="new-key" />
                        </>
                    ) : (
                        <>
                            <MuiTextField label="Name" value={name} onChange={e => setName(e.target.value)} fullWidth margin="dense" required />
                            <MuiTextField label="Role" select value={role} onChange={e => setRole(e.target.value)} fullWidth margin="dense">
                                {ROLES.map(r => (
                                    <MenuItem key={r.id} value={r.id}>
                                        {r.name}
                                    </MenuItem>
                                ))}
                            </MuiTextField>
                        </>
                    )}
                </DialogContent>
                <DialogActions>
                    {key ? (
                        <>
                            <Button
                                startIcon={<ContentCopyIcon />}
                                onClick={() => navigator.clipboard.writeText(key).then(() => notify('Copied', { type: 'info' }))}
                            >
                                Copy
                            </Button>
                            <Button onClick={close}>Done</Button>
                        </>
                    ) : (
                        <>
                            <Button onClick={close}>Cancel</Button>
                            <Button variant="contained" disabled={!name.trim()} onClick={create}>
                                Create
                            </Button>
                        </>
                    )}
                </DialogActions>
            </Dialog>
        </>
    );
}

function RevokeButton({ id }: { id: string }) {
    const dataProvider = useDataProvider();
    const notify = useNotify();
    const refresh = useRefresh();
    return (
        <Button
            color="error"
            size="small"
            onClick={() =>
                dataProvider.delete('api-keys', { id }).then(
                    () => (notify('Key revoked', { type: 'info' }), refresh()),
                    error => notify(errorMessage(error), { type: 'error' }),
                )
            }
        >
            Revoke
        </Button>
    );
}

export default function ApiKeyList() {
    return (
        <List
            title="API keys"
            sort={{ field: 'created_at', order: 'ASC' }}
            actions={
                <TopToolbar>
                    <NewKey />
                </TopToolbar>
            }
        >
            <Datagrid bulkActionButtons={false} rowClick={false}>
                <TextField source="name" />
                <TextField source="prefix" sortable={false} />
                <TextField source="role" />
                <DateField source="created_at" showTime />
                <DateField source="last_used_at" showTime emptyText="never" />
                <DateField source="revoked_at" showTime emptyText="—" sortable={false} />
                <FunctionField label="" render={row => (row.revoked_at ? null : <RevokeButton id={String(row.id)} />)} />
            </Datagrid>
        </List>
    );
}
