import { Button, Chip, Dialog, DialogActions, DialogContent, DialogTitle, Table, TableBody, TableCell, TableHead, TableRow } from '@mui/material';

import type { BulkAnswer, BulkResult } from '../api';

const COLORS: Record<BulkResult, 'success' | 'warning' | 'error' | 'default'> = {
    ok: 'success',
    conflict: 'warning',
    claimed: 'warning',
    not_found: 'error',
};

/** What a bulk decision did to each item: ok, conflict, claimed or not_found, with the problem's detail. */
export function BulkResults({
    answer,
    label,
    onClose,
}: {
    answer: BulkAnswer | null;
    /** What to call an item in the table (a member's name, say), by id. */
    label: (id: string) => string;
    onClose: () => void;
}) {
    const summary = answer?.summary;
    return (
        <Dialog open={answer !== null} onClose={onClose} aria-labelledby="bulk-results-title" fullWidth maxWidth="md">
            <DialogTitle id="bulk-results-title">
                {summary ? `${summary.ok} of ${summary.total} done` : 'Results'}
            </DialogTitle>
            <DialogContent>
                <Table size="small" aria-label="Result per item" data-testid="bulk-results">
                    <TableHead>
                        <TableRow>
                            <TableCell>Item</TableCell>
                            <TableCell>Result</TableCell>
                            <TableCell>Why</TableCell>
                        </TableRow>
                    </TableHead>
                    <TableBody>
                        {(answer?.results ?? []).map(result => (
                            <TableRow key={result.id} data-testid="bulk-result" data-id={result.id} data-result={result.result}>
                                <TableCell>{label(result.id)}</TableCell>
                                <TableCell>
                                    <Chip size="small" color={COLORS[result.result]} label={result.result.replace('_', ' ')} />
                                </TableCell>
                                <TableCell>{result.problem?.detail ?? result.problem?.title ?? ''}</TableCell>
                            </TableRow>
                        ))}
                    </TableBody>
                </Table>
            </DialogContent>
            <DialogActions>
                <Button onClick={onClose} autoFocus>
                    Close
                </Button>
            </DialogActions>
        </Dialog>
    );
}
