import { Button, Dialog, DialogActions, DialogContent, DialogTitle, TextField } from '@mui/material';
import { useEffect, useState } from 'react';

/** Asks why (rejections and suspensions need a reason); Enter confirms, Escape cancels. */
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
    onConfirm: (reason: string) => void;
    onClose: () => void;
}) {
    const [reason, setReason] = useState('');
    useEffect(() => {
        if (open) setReason('');
    }, [open]);
    const ok = reason.trim().length > 0;
    return (
        <Dialog open={open} onClose={onClose} aria-labelledby="reason-title" fullWidth>
            <form
                onSubmit={event => {
                    event.preventDefault();
                    if (ok) onConfirm(reason.trim());
                }}
            >
                <DialogTitle id="reason-title">{title}</DialogTitle>
                <DialogContent>
                    <TextField
                        autoFocus
                        label="Reason"
                        name="reason"
                        value={reason}
                        onChange={e => setReason(e.target.value)}
                        fullWidth
                        multiline
                        minRows={2}
                        required
                        margin="dense"
                        onKeyDown={e => {
                            if (e.key === 'Enter' && !e.shiftKey) {
                                e.preventDefault();
                                if (ok) onConfirm(reason.trim());
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
