import { lazy } from 'react';
import { QueryClient } from '@tanstack/react-query';
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
const PhotoQueue = lazy(() => import('./queues/PhotoQueue'));
const DocumentQueue = lazy(() => import('./queues/DocumentQueue'));
const ReportQueue = lazy(() => import('./queues/ReportQueue'));
const OperatorList = lazy(() => import('./admin/Operators'));
const OperatorCreate = lazy(() => import('./admin/OperatorCreate'));
const OperatorEdit = lazy(() => import('./admin/OperatorEdit'));
const ApiKeyList = lazy(() => import('./admin/ApiKeys'));
const AuditList = lazy(() => import('./admin/AuditLog'));
const OutboxList = lazy(() => import('./admin/Outbox'));

/** Retry what may pass on a second try (a network failure, a 5xx), twice; never a refusal (4xx) or a missing session,
 * which react-query's default of three retries with back-off turned into a 13-second wait for the login page. */
function retryable(failures: number, error: unknown): boolean {
    if (failures >= 2) return false;
    if (error instanceof TypeError) return true; // fetch could not reach the server
    const status = (error as { status?: number } | null)?.status;
    return status !== undefined && status >= 500;
}

const queryClient = new QueryClient({ defaultOptions: { queries: { retry: retryable } } });

export function App() {
    return (
        <Admin
            queryClient={queryClient}
            title="Memberdesk"
            dataProvider={dataProvider as unknown as DataProvider}
            authProvider={authProvider}
            loginPage={LoginPage}
            dashboard={Dashboard}
            layout={ConsoleLayout}
            theme={theme}
            disableTelemetry
        >
            <Resource name="members" list={MemberList} show={MemberShow} edit={MemberEdit} recordRepresentation="name" />
            <Resource name="reviews" list={ReviewQueue} options={{ label: 'Review queue' }} />
            <Resource name="photos" list={PhotoQueue} options={{ label: 'Photo queue' }} />
            <Resource name="documents" list={DocumentQueue} options={{ label: 'Document queue' }} />
            <Resource name="reports" list={ReportQueue} options={{ label: 'Reports' }} />
            <Resource name="audit" list={AuditList} options={{ label: 'Audit log' }} />
            <Resource name="operators" list={OperatorList} create={OperatorCreate} edit={OperatorEdit} />
            <Resource name="api-keys" list={ApiKeyList} options={{ label: 'API keys' }} />
            <Resource name="outbox" list={OutboxList} options={{ label: 'Dead events' }} />
        </Admin>
    );
}
