import { lazy } from 'react';
import { Admin, type DataProvider, Resource } from 'react-admin';

import { authProvider, dataProvider } from './api';
import { ConsoleLayout } from './layout/ConsoleLayout';
import { LoginPage } from './layout/LoginPage';
import { theme } from './layout/theme';

// Every page is its own chunk: the first load carries react-admin's frame and the login page only.
const Dashboard = lazy(() => import('./dashboard/Dashboard'));
const MemberList = lazy(() => import('./members/MemberList'));
const MemberShow = lazy(() => import('./members/MemberShow'));
const MemberEdit = lazy(() => import('./members/MemberEdit'));
const ReviewQueue = lazy(() => import('./reviews/ReviewQueue'));
const OperatorList = lazy(() => import('./admin/Operators'));
const OperatorCreate = lazy(() => import('./admin/OperatorCreate'));
const OperatorEdit = lazy(() => import('./admin/OperatorEdit'));
const ApiKeyList = lazy(() => import('./admin/ApiKeys'));
const AuditList = lazy(() => import('./admin/AuditLog'));
const OutboxList = lazy(() => import('./admin/Outbox'));

export function App() {
    return (
        <Admin
            title="Memberdesk"
            dataProvider={dataProvider as unknown as DataProvider}
            authProvider={authProvider}
            loginPage={LoginPage}
            dashboard={Dashboard}
            layout={ConsoleLayout}
            theme={theme}
            requireAuth
            disableTelemetry
        >
            <Resource name="members" list={MemberList} show={MemberShow} edit={MemberEdit} recordRepresentation="name" />
            <Resource name="reviews" list={ReviewQueue} options={{ label: 'Review queue' }} />
            <Resource name="audit" list={AuditList} options={{ label: 'Audit log' }} />
            <Resource name="operators" list={OperatorList} create={OperatorCreate} edit={OperatorEdit} />
            <Resource name="api-keys" list={ApiKeyList} options={{ label: 'API keys' }} />
            <Resource name="outbox" list={OutboxList} options={{ label: 'Dead events' }} />
            {/* Phase 2 of issue 14: photo, document and report queues, as resources here. */}
        </Admin>
    );
}
