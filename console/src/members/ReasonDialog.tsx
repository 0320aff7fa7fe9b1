import { Button, Dialog, DialogActions, DialogContent, DialogTitle, TextField } from '@mui/material';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import type { ReasonCode } from '../api';
import { useMemberdesk } from '../hooks';

/** Why a member, photo or document is refused: a code from the server's closed list and free text. */
export type Why = { reason_code: string; reason?: string };

/** The closed list of reason codes (GET /api/v1/admin/reason-codes), fetched once per visit. */
export function useReasonCodes(): ReasonCode[] | undefined {
    const memberdesk = useMemberdesk();
    const { data } = useQuery({ queryKey: ['reason-codes'], queryFn: () => memberdesk.reasonCodes(), staleTime: Infinity });
    return Array.isArray(data) ? data : undefined;
}

/** Asks why (rejections and suspensions need a reason code; a code the server marks `reason_required` also needs
 * text); Enter confirms, Escape cancels. */
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
    const codes = useReasonCodes();
    const [code, setCode] = useState('');
    const [reason, setReason] = useState('');
    useEffect(() => {
        if (open) {
            setCode('');
            setReason('');
        }
    }, [open]);
    const text = reason.trim();
    const needsText = codes?.find(c => c.id === code)?.reason_required ?? false;
    const ok = code !== '' && (!needsText || text.length > 0);
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
                        {(codes ?? []).map(({ id, label }) => (
                            <option key={id} value={id}>
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
                        required={needsText}
                        helperText={needsText ? 'Required for this reason code' : 'Optional'}
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
