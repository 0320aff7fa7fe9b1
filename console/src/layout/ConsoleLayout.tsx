import type { ReactNode } from 'react';
import { AppBar, Layout, UserMenu, useGetIdentity } from 'react-admin';

import { PrimaryBanner } from './PrimaryBanner';
import { useRowCheckboxLabels } from './rowCheckboxes';

/** The operator's menu, named by the operator's name it shows (a screen reader hears what is seen). */
function OperatorMenu() {
    const { identity } = useGetIdentity();
    return <UserMenu label={identity?.fullName ? String(identity.fullName) : 'Profile'} />;
}

function ConsoleAppBar() {
    return <AppBar userMenu={<OperatorMenu />} />;
}

/** react-admin's layout with the banner that says when the primary is down (reads go on, writes wait). */
export function ConsoleLayout({ children }: { children: ReactNode }) {
    useRowCheckboxLabels();
    return (
        <Layout appBar={ConsoleAppBar}>
            <PrimaryBanner />
            {children}
        </Layout>
    );
}
