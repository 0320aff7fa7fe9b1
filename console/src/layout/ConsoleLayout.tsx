import type { ReactNode } from 'react';
import { Layout } from 'react-admin';

import { PrimaryBanner } from './PrimaryBanner';

/** react-admin's layout with the banner that says when the primary is down (reads go on, writes wait). */
export function ConsoleLayout({ children }: { children: ReactNode }) {
    return (
        <Layout>
            <PrimaryBanner />
            {children}
        </Layout>
    );
}
