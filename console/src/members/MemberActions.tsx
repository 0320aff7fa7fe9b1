import { Button as MuiButton } from '@mui/material';
import { useState } from 'react';
import { EditButton, TopToolbar, useNotify, useRecordContext, useRedirect, useRefresh } from 'react-admin';

import { errorMessage, useAllowed, useMemberdesk } from '../hooks';
import { ReasonDialog, type Why } from './ReasonDialog';

type Decision = 'reject' | 'suspend';

/** Review decisions (moderator), edit and soft delete with an undo (admin), restore of a deleted member. */
export function MemberActions() {
    const record = useRecordContext();
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const refresh = useRefresh();
    const redirect = useRedirect();
    const canReview = useAllowed('members', 'review');
    const canEdit = useAllowed('members', 'edit');
    const canDelete = useAllowed('members', 'delete');
    const [asking, setAsking] = useState<Decision | null>(null);
    if (!record) return <TopToolbar />;
    const id = record.id;

    async function review(action: 'approve' | Decision, why?: Why) {
        try {
            await memberdesk.review(id, action, why);
            notify(`Member ${action === 'approve' ? 'approved' : action === 'reject' ? 'rejected' : 'suspended'}`, { type: 'success' });
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        }
        refresh();
    }

    async function restore() {
        try {
            await memberdesk.restore(id);
            notify('Member restored', { type: 'success' });
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        }
        refresh();
    }

    async function remove() {
        try {
            await memberdesk.delete('members', { id, previousData: record });
            notify(
                <span>
                    Member deleted.{' '}
                    <MuiButton color="inherit" size="small" onClick={() => restore().then(() => redirect('show', 'members', id))}>
                        Undo
                    </MuiButton>
                </span>,
                { type: 'info', autoHideDuration: 10_000 },
            );
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        }
        refresh();
    }

    const deleted = Boolean(record.deleted_at);
    return (
        <TopToolbar>
            {canReview && !deleted && (
                <>
                    <MuiButton disabled={!['pending', 'suspended'].includes(String(record.status))} onClick={() => review('approve')}>
                        Approve
                    </MuiButton>
                    <MuiButton disabled={record.status !== 'pending'} onClick={() => setAsking('reject')}>
                        Reject
                    </MuiButton>
                    <MuiButton disabled={record.status !== 'active'} onClick={() => setAsking('suspend')}>
                        Suspend
                    </MuiButton>
                </>
            )}
            {canEdit && !deleted && <EditButton />}
            {canDelete && !deleted && (
                <MuiButton color="error" onClick={remove}>
                    Delete
                </MuiButton>
            )}
            {canDelete && deleted && <MuiButton onClick={restore}>Restore</MuiButton>}
            <ReasonDialog
                open={asking !== null}
                title={asking === 'suspend' ? 'Suspend this member' : 'Reject this member'}
                confirm={asking === 'suspend' ? 'Suspend' : 'Reject'}
                onClose={() => setAsking(null)}
                onConfirm={why => {
                    const action = asking;
                    setAsking(null);
                    if (action) void review(action, why);
                }}
            />
        </TopToolbar>
    );
}
