import {
    Button,
    Dialog,
    DialogActions,
    DialogContent,
    DialogTitle,
    FormControlLabel,
    Radio,
    RadioGroup,
    Switch,
    TextField as MuiTextField,
} from '@mui/material';
import { useEffect, useState } from 'react';
import {
    Datagrid,
    DateField,
    FunctionField,
    SelectInput,
    TextField,
    TopToolbar,
    useListContext,
    useNotify,
    useRefresh,
} from 'react-admin';

import { errorMessage, useAllowed, useMemberdesk } from '../hooks';
import { CursorList } from './CursorList';

const STATUSES = ['open', 'dismissed', 'actioned'].map(id => ({ id, name: id }));
const ACTIONS = ['reject', 'suspend', 'ban', 'photo_rejected', 'document_rejected', 'warning', 'other'];
const filters = [<SelectInput key="status" source="status" choices={STATUSES} alwaysOn emptyText="Any status" />];

type Report = { id: string; status: string; reason_code: string; member: { id: string; name: string } };

/** Resolve one report: dismissed, or actioned with the decision it led to (taken through its own route). */
function ResolveDialog({ report, onClose }: { report: Report | null; onClose: () => void }) {
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const refresh = useRefresh();
    const [status, setStatus] = useState<'dismissed' | 'actioned'>('dismissed');
    const [action, setAction] = useState('warning');
    const [note, setNote] = useState('');
    useEffect(() => {
        if (report) {
            setStatus('dismissed');
            setAction('warning');
            setNote('');
        }
    }, [report]);
    async function resolve() {
        if (!report) return;
        const text = note.trim();
        try {
            await memberdesk.resolveReport(report.id, {
                status,
                ...(status === 'actioned' ? { action } : {}),
                ...(text ? { note: text } : {}),
            });
            notify(`Report about ${report.member.name}: ${status}`, { type: 'success' });
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        }
        onClose();
        refresh();
    }
    return (
        <Dialog open={report !== null} onClose={onClose} aria-labelledby="resolve-title" fullWidth>
            <form
                onSubmit={event => {
                    event.preventDefault();
                    void resolve();
                }}
            >
                <DialogTitle id="resolve-title">Resolve the report about {report?.member.name}</DialogTitle>
                <DialogContent>
                    <RadioGroup
                        aria-label="Resolution"
                        value={status}
                        onChange={e => setStatus(e.target.value as 'dismissed' | 'actioned')}
                    >
                        <FormControlLabel value="dismissed" control={<Radio />} label="Dismiss: nothing to do" />
                        <FormControlLabel value="actioned" control={<Radio />} label="Actioned: a decision was taken" />
                    </RadioGroup>
                    {status === 'actioned' && (
                        <MuiTextField
                            select
                            label="Action"
                            value={action}
                            onChange={e => setAction(e.target.value)}
                            fullWidth
                            margin="dense"
                            slotProps={{ select: { native: true }, inputLabel: { shrink: true } }}
                        >
                            {ACTIONS.map(a => (
                                <option key={a} value={a}>
                                    {a.replace('_', ' ')}
                                </option>
                            ))}
                        </MuiTextField>
                    )}
                    <MuiTextField label="Note" value={note} onChange={e => setNote(e.target.value)} fullWidth multiline minRows={2} margin="dense" />
                </DialogContent>
                <DialogActions>
                    <Button onClick={onClose}>Cancel</Button>
                    <Button type="submit" variant="contained">
                        Resolve
                    </Button>
                </DialogActions>
            </form>
        </Dialog>
    );
}

/** Switches between one row per report and one row per reported member (`group_by=member`). */
function GroupToggle() {
    const { filterValues, setFilters } = useListContext();
    const grouped = filterValues.group_by === 'member';
    return (
        <FormControlLabel
            control={
                <Switch
                    checked={grouped}
                    onChange={() => {
                        const next = { ...filterValues };
                        if (grouped) delete next.group_by;
                        else {
                            next.group_by = 'member';
                            delete next.reported_member_id;
                        }
                        setFilters(next, {});
                    }}
                />
            }
            label="Group by member"
        />
    );
}

function Reports({ canResolve, onResolve }: { canResolve: boolean; onResolve: (report: Report) => void }) {
    const { filterValues, setFilters } = useListContext();
    if (filterValues.group_by === 'member') {
        return (
            <Datagrid bulkActionButtons={false} rowClick={false} data-testid="report-groups">
                <TextField source="member.name" label="Member" sortable={false} />
                <TextField source="member.status" label="Member status" sortable={false} />
                <TextField source="reports" label="Reports" sortable={false} />
                <TextField source="newest.reason_code" label="Newest reason" sortable={false} />
                <DateField source="first_reported_at" label="First reported" showTime sortable={false} />
                <DateField source="last_reported_at" label="Last reported" showTime sortable={false} />
                <FunctionField
                    label=""
                    render={(group: { id: string; member: { name: string } }) => (
                        <Button
                            size="small"
                            onClick={() => {
                                const next: Record<string, unknown> = { ...filterValues, reported_member_id: group.id };
                                delete next.group_by;
                                setFilters(next, {});
                            }}
                        >
                            Reports about {group.member.name}
                        </Button>
                    )}
                />
            </Datagrid>
        );
    }
    return (
        <Datagrid bulkActionButtons={false} rowClick={false} data-testid="reports">
            <TextField source="member.name" label="Member" sortable={false} />
            <TextField source="reason_code" label="Reason" sortable={false} />
            <TextField source="text" sortable={false} emptyText="" />
            <TextField source="status" sortable={false} />
            <TextField source="action" sortable={false} emptyText="" />
            <DateField source="created_at" label="Reported" showTime />
            <FunctionField
                label=""
                render={(report: Report) =>
                    canResolve && report.status === 'open' ? (
                        <Button size="small" onClick={() => onResolve(report)}>
                            Resolve {report.member.name}
                        </Button>
                    ) : null
                }
            />
        </Datagrid>
    );
}

/** The reports queue (`GET /reports`, oldest first, by cursor), one row per report or per member; a moderator
 * resolves a report with `PATCH /reports/{id}`. */
export default function ReportQueue() {
    const canResolve = useAllowed('reports', 'moderate');
    const [resolving, setResolving] = useState<Report | null>(null);
    return (
        <>
            <CursorList
                title="Reports"
                resource="reports"
                filters={filters}
                filterDefaultValues={{ status: 'open' }}
                sort={{ field: 'created_at', order: 'ASC' }}
                perPage={50}
                actions={
                    <TopToolbar>
                        <GroupToggle />
                    </TopToolbar>
                }
            >
                <Reports canResolve={canResolve} onResolve={setResolving} />
            </CursorList>
            <ResolveDialog report={resolving} onClose={() => setResolving(null)} />
        </>
    );
}
