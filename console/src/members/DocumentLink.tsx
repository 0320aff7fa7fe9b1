import { Button, Link, Typography } from '@mui/material';
import { useNotify } from 'react-admin';

import { errorMessage, useAllowed, useMemberdesk } from '../hooks';

export interface DocumentItem {
    id: string;
    doc_type: string;
    status: string;
    url?: string | null;
}

/**
 * A document's file. Most documents come with their URL; an identity document never does: its URL is asked for
 * (`POST /documents/{id}/url`, a moderator's logged read) when the operator opens it, and it downloads as an
 * attachment.
 */
export function DocumentLink({ doc, label }: { doc: DocumentItem; label: string }) {
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const canOpen = useAllowed('members', 'moderate');
    if (doc.status === 'uploading') return <Typography variant="body2">{label}: uploading</Typography>;
    if (doc.url)
        return (
            <Link href={doc.url} target="_blank" rel="noopener noreferrer" onClick={event => event.stopPropagation()}>
                Open {label}
            </Link>
        );
    if (!canOpen) return <Typography variant="body2">{label}: moderators open it</Typography>;

    async function open() {
        try {
            window.location.assign(await memberdesk.documentUrl(doc.id)); // an attachment: downloaded, not shown
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        }
    }
    return (
        <Button
            size="small"
            onClick={event => {
                event.stopPropagation();
                void open();
            }}
        >
            Open {label} (the access is logged)
        </Button>
    );
}
