import { Button, Dialog, DialogActions, DialogContent, DialogTitle, TextField } from '@mui/material';
import { useEffect, useState } from 'react';

/** Why a member, photo or document is refused: a code from the server's closed list and free text. */
export type Why = { reason_code: string; reason?: string };

/** The codes of GET /api/v1/admin/reason-codes, with their labels (backend/domain/reasons.py). */
export const REASON_CODES: ReadonlyArray<[string, string]> = [
    ['fake_profile', 'Fake profile'],
    ['underage', 'Under the minimum age'],
    ['nudity', 'Nudity or sexual content'],
    ['violence', 'Violence or gore'],
    ['hate', 'Hate speech or symbols'],
    ['harassment', 'Harassment or bullying'],
    ['scam', 'Scam or fraud'],
    ['spam', 'Spam or advertising'],
    ['impersonation', 'Impersonation'],
    ['illegal', 'Illegal goods or activity'],
    ['off_platform', 'Moving contact off the platform'],
    ['other', 'Other (explain in the reason)'],
];

/** Asks why (rejections and suspensions need a reason code; `other` also needs text); Enter confirms, Escape
 * cancels. */
export function ReasonDialog({
    open,
    title,
    confirm,
    onConfirm,
    onClose,
}: {
    open: boolean;
    title: string;
    confirm: string;
    onConfirm: (why: Why) => void;
    onClose: () => void;
}) {
    const [code, setCode] = useState('');
    const [reason, setReason] = useState('');
    useEffect(() => {
        if (open) {
            setCode('');
            setReason('');
        }
    }, [open]);
    const text = reason.trim();
    const ok = code !== '' && (code !== 'other' || text.length > 0);
    const submit = () => {
        if (ok) onConfirm(text ? { reason_code: code, reason: text } : { reason_code: code });
    };
    return (
        <Dialog open={open} onClose={onClose} aria-labelledby="reason-title" fullWidth>
            <form
                onSubmit={event => {
                    event.preventDefault();
                    submit();
                }}
            >
                <DialogTitle id="reason-title">{title}</DialogTitle>
                <DialogContent>
                    <TextField
                        select
                        autoFocus
                        label="Reason code"
                        name="reason_code"
                        value={code}
                        onChange={e => setCode(e.target.value)}
                        fullWidth
                        required
                        margin="dense"
                        slotProps={{ select: { native: true }, inputLabel: { shrink: true } }}
                    >
                        <option value="" disabled>
                            Choose a reason
                        </option>
                        {REASON_CODES.map(([value, label]) => (
                            <option key={value} value={value}>
                                {label}
                            </option>
                        ))}
                    </TextField>
                    <TextField
                        label="Reason"
                        name="reason"
                        value={reason}
                        onChange={e => setReason(e.target.value)}
                        fullWidth
                        multiline
                        minRows={2}
                        required={code === 'other'}
                        helperText={code === 'other' ? 'Required for Other' : 'Optional'}
                        margin="dense"
                        onKeyDown={e => {
                            if (e.key === 'Enter' && !e.shiftKey) {
                                e.preventDefault();
                                submit();
                            }
                        }}
                    />
                </DialogContent>
                <DialogActions>
                    <Button onClick={onClose}>Cancel</Button>
                    <Button type="submit" variant="contained" disabled={!ok}>
                        {confirm}
                    </Button>
                </DialogActions>
            </form>
        </Dialog>
    );
}
