import { Button } from '@mui/material';
import { useState } from 'react';
import { useListContext, useNotify, useRefresh, useUnselectAll } from 'react-admin';

import type { BulkAnswer } from '../api';
import { errorMessage, useMemberdesk } from '../hooks';
import { ReasonDialog, type Why } from '../members/ReasonDialog';
import { BulkResults } from './BulkResults';

export interface BulkDecision {
    label: string;
    /** What the bulk endpoint is sent besides the ids: `{action: 'approve'}`, `{status: 'rejected'}` ... */
    data: Record<string, unknown>;
    /** Asks for a reason code (and text when the code needs it) first. */
    asksWhy?: boolean;
    color?: 'primary' | 'success' | 'error' | 'warning';
}

/** Bulk decision buttons for a list's selection: one request to the resource's bulk endpoint, then a dialog with
 * every item's result (the problem of each refused one). */
export function BulkDecisions({
    resource,
    decisions,
    label,
}: {
    resource: string;
    decisions: BulkDecision[];
    label: (record: Record<string, unknown> | undefined, id: string) => string;
}) {
    const { selectedIds, data } = useListContext();
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const refresh = useRefresh();
    const unselectAll = useUnselectAll(resource);
    const [asking, setAsking] = useState<BulkDecision | null>(null);
    const [answer, setAnswer] = useState<BulkAnswer | null>(null);
    const [busy, setBusy] = useState(false);
    // The names of the selected records, kept for the results (the list reloads meanwhile).
    const [names, setNames] = useState<Record<string, string>>({});

    async function decide(decision: BulkDecision, why?: Why) {
        const ids = selectedIds.map(String);
        const known: Record<string, string> = {};
        for (const id of ids) known[id] = label(data?.find(r => String(r.id) === id), id);
        setNames(known);
        setBusy(true);
        try {
            setAnswer(await memberdesk.bulk(resource, ids, { ...decision.data, ...why }));
            unselectAll();
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        } finally {
            setBusy(false);
            refresh();
        }
    }

    return (
        <>
            {decisions.map(decision => (
                <Button
                    key={decision.label}
                    color={decision.color ?? 'primary'}
                    disabled={busy}
                    onClick={() => (decision.asksWhy ? setAsking(decision) : void decide(decision))}
                >
                    {decision.label}
                </Button>
            ))}
            <ReasonDialog
                open={asking !== null}
                title={`${asking?.label ?? ''}: ${selectedIds.length} selected`}
                confirm={asking?.label ?? ''}
                onClose={() => setAsking(null)}
                onConfirm={why => {
                    const decision = asking;
                    setAsking(null);
                    if (decision) void decide(decision, why);
                }}
            />
            <BulkResults answer={answer} label={id => names[id] ?? id} onClose={() => setAnswer(null)} />
        </>
    );
}
