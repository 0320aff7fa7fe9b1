import DownloadIcon from '@mui/icons-material/Download';
import { Avatar, Card, CardContent, ListItem, ListItemButton, ListItemText } from '@mui/material';
import { useState } from 'react';
import {
    Button,
    Datagrid,
    DateField,
    DateInput,
    FilterList,
    FilterLiveForm,
    FunctionField,
    List,
    NumberInput,
    Pagination,
    SearchInput,
    TextField,
    TopToolbar,
    useListContext,
    useNotify,
} from 'react-admin';

import { errorMessage, LIST_FRESH_MS, useAllowed, useMemberdesk, useSetFiltersNow } from '../hooks';
import { BulkDecisions } from '../queues/BulkDecisions';
import { GENDERS, PLANS, STATUSES } from './choices';

/** A filter value to switch on and off (react-admin's FilterListItem has an unlabelled remove button, which axe
 * flags as critical; this one is a single toggle button that says whether it is on). */
function FilterToggle({ label, value }: { label: string; value: Record<string, unknown> }) {
    const { filterValues } = useListContext();
    const setFilters = useSetFiltersNow();
    const [key, wanted] = Object.entries(value)[0];
    const on = filterValues[key] === wanted;
    function toggle() {
        const next = { ...filterValues };
        if (on) delete next[key];
        else next[key] = wanted;
        setFilters(next);
    }
    return (
        <ListItem disablePadding>
            <ListItemButton dense selected={on} aria-pressed={on} onClick={toggle} sx={{ pl: 2 }}>
                <ListItemText primary={label} />
            </ListItemButton>
        </ListItem>
    );
}

function MemberFilters() {
    return (
        <Card sx={{ order: -1, mr: 2, mt: 1, width: 220, flexShrink: 0 }} component="aside" aria-label="Filters">
            <CardContent>
                <FilterList label="Status" icon={null}>
                    {STATUSES.map(status => (
                        <FilterToggle key={status} label={status} value={{ status }} />
                    ))}
                </FilterList>
                <FilterList label="Gender" icon={null}>
                    {GENDERS.map(gender => (
                        <FilterToggle key={gender} label={gender} value={{ gender }} />
                    ))}
                </FilterList>
                <FilterList label="Plan" icon={null}>
                    {PLANS.map(plan => (
                        <FilterToggle key={plan} label={plan} value={{ plan }} />
                    ))}
                </FilterList>
                <FilterList label="Photos" icon={null}>
                    <FilterToggle label="Has photos" value={{ has_photos: true }} />
                    <FilterToggle label="No photos" value={{ has_photos: false }} />
                </FilterList>
                <FilterLiveForm>
                    <DateInput source="signed_up_from" label="Signed up from" helperText={false} />
                    <DateInput source="signed_up_to" label="Signed up to" helperText={false} />
                    <NumberInput source="birth_year_min" label="Born from" helperText={false} />
                    <NumberInput source="birth_year_max" label="Born until" helperText={false} />
                </FilterLiveForm>
            </CardContent>
        </Card>
    );
}

/** The current filter and sort, as CSV from the API's streamed export (every matching member, no paging). */
function ExportCsvButton() {
    const { filterValues, sort } = useListContext();
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const [busy, setBusy] = useState(false);
    async function download() {
        setBusy(true);
        try {
            const blob = await memberdesk.exportMembers(filterValues, sort);
            const url = URL.createObjectURL(blob);
            const link = document.createElement('a');
            link.href = url;
            link.download = 'members.csv';
            link.click();
            setTimeout(() => URL.revokeObjectURL(url), 10_000);
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        } finally {
            setBusy(false);
        }
    }
    return (
        <Button label="Export CSV" onClick={download} disabled={busy}>
            <DownloadIcon />
        </Button>
    );
}

const searchFilters = [<SearchInput key="q" source="q" alwaysOn placeholder="Name or phone" aria-label="Search by name or phone" />];

const nameOf = (record: Record<string, unknown> | undefined, id: string) => (record?.name ? String(record.name) : id);

/** Approve, reject or suspend the selection: one `POST /members/bulk`, then each member's result. */
function MemberBulkActions() {
    return (
        <BulkDecisions
            resource="members"
            label={nameOf}
            decisions={[
                { label: 'Approve', data: { action: 'approve' }, color: 'success' },
                { label: 'Reject', data: { action: 'reject' }, asksWhy: true, color: 'error' },
                { label: 'Suspend', data: { action: 'suspend' }, asksWhy: true, color: 'warning' },
            ]}
        />
    );
}

export default function MemberList() {
    const canReview = useAllowed('members', 'review');
    return (
        <List
            title="Members"
            aside={<MemberFilters />}
            filters={searchFilters}
            sort={{ field: 'created_at', order: 'DESC' }}
            perPage={25}
            queryOptions={{ staleTime: LIST_FRESH_MS }}
            pagination={<Pagination rowsPerPageOptions={[25, 50, 100]} />}
            actions={
                <TopToolbar>
                    <ExportCsvButton />
                </TopToolbar>
            }
        >
            <Datagrid rowClick="show" optimized bulkActionButtons={canReview ? <MemberBulkActions /> : false}>
                <FunctionField
                    label="Photo"
                    sortable={false}
                    render={record =>
                        record.photo_url ? (
                            <Avatar src={String(record.photo_url)} alt={`Photo of ${record.name}`} />
                        ) : (
                            <Avatar alt="">{String(record.name).slice(0, 1)}</Avatar>
                        )
                    }
                />
                <TextField source="name" />
                <TextField source="phone" sortable={false} />
                <TextField source="gender" />
                <TextField source="birth_year" label="Born" />
                <TextField source="status" />
                <DateField source="created_at" label="Signed up" showTime />
            </Datagrid>
        </List>
    );
}
