import { List, ListItem, Typography } from '@mui/material';
import {
    DateField,
    FunctionField,
    NumberField,
    Show,
    TabbedShowLayout,
    TextField,
    useRecordContext,
} from 'react-admin';

import { DocumentLink, type DocumentItem } from './DocumentLink';
import { History } from './History';
import { MemberActions } from './MemberActions';
import { Notes } from './Notes';
import { PhotoGallery } from './PhotoGallery';


function Documents() {
    const record = useRecordContext();
    const documents = (record?.documents as DocumentItem[]) ?? [];
    if (!documents.length) return <Typography>No documents.</Typography>;
    // Verify and reject: the document queue (one request for many).
    return (
        <List aria-label="Documents">
            {documents.map(doc => (
                <ListItem key={doc.id}>
                    <DocumentLink doc={doc} label={`the ${doc.doc_type} document (${doc.status})`} />
                </ListItem>
            ))}
        </List>
    );
}

function Title() {
    const record = useRecordContext();
    return <span>{record ? `${record.name}${record.deleted_at ? ' (deleted)' : ''}` : 'Member'}</span>;
}

export default function MemberShow() {
    return (
        <Show title={<Title />} actions={<MemberActions />}>
            <TabbedShowLayout>
                <TabbedShowLayout.Tab label="Profile">
                    <TextField source="name" />
                    <TextField source="phone" />
                    <TextField source="gender" />
                    <NumberField source="birth_year" label="Born" options={{ useGrouping: false }} />
                    <TextField source="status" />
                    <DateField source="created_at" label="Signed up" showTime />
                    <DateField source="deleted_at" label="Deleted" showTime emptyText="—" />
                    <NumberField source="profile.height_cm" label="Height (cm)" emptyText="—" />
                    <TextField source="profile.education" label="Education" emptyText="—" />
                    <TextField source="profile.job" label="Job" emptyText="—" />
                    <TextField source="profile.region" label="Region" emptyText="—" />
                    <TextField source="profile.bio" label="Bio" emptyText="—" />
                </TabbedShowLayout.Tab>
                <TabbedShowLayout.Tab label="Lifestyle" path="lifestyle">
                    <TextField source="lifestyle.smoking" label="Smoking" emptyText="—" />
                    <TextField source="lifestyle.drinking" label="Drinking" emptyText="—" />
                    <TextField source="lifestyle.religion" label="Religion" emptyText="—" />
                    <TextField source="lifestyle.exercise" label="Exercise" emptyText="—" />
                </TabbedShowLayout.Tab>
                <TabbedShowLayout.Tab label="Preference" path="preference">
                    <FunctionField
                        label="Ages sought"
                        render={r => (r.preference ? `${r.preference.age_min ?? '—'} to ${r.preference.age_max ?? '—'}` : '—')}
                    />
                    <FunctionField
                        label="Heights sought (cm)"
                        render={r => (r.preference ? `${r.preference.height_min_cm ?? '—'} to ${r.preference.height_max_cm ?? '—'}` : '—')}
                    />
                    <FunctionField label="Regions sought" render={r => (r.preference?.regions ?? []).join(', ') || '—'} />
                </TabbedShowLayout.Tab>
                <TabbedShowLayout.Tab label="Subscription" path="subscription">
                    <TextField source="subscription.plan" label="Plan" emptyText="none" />
                    <TextField source="subscription.status" label="Status" emptyText="—" />
                    <DateField source="subscription.started_at" label="Started" emptyText="—" />
                    <DateField source="subscription.expires_at" label="Expires" emptyText="—" />
                </TabbedShowLayout.Tab>
                <TabbedShowLayout.Tab label="Photos" path="photos">
                    <PhotoGallery />
                </TabbedShowLayout.Tab>
                <TabbedShowLayout.Tab label="Documents" path="documents">
                    <Documents />
                </TabbedShowLayout.Tab>
                <TabbedShowLayout.Tab label="Notes" path="notes">
                    <Notes />
                </TabbedShowLayout.Tab>
                <TabbedShowLayout.Tab label="History" path="history">
                    <History />
                </TabbedShowLayout.Tab>
            </TabbedShowLayout>
        </Show>
    );
}
