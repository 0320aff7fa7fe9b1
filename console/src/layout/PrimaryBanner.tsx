import { Alert } from '@mui/material';
import { useEffect, useState } from 'react';

import { serverStatus } from '../api';

const POLL_MS = 15_000;

/** Asks /health/ready now and then (and hears of any write answered 503): while the primary is down the console
 * says so, and browsing goes on from the replicas. */
export function PrimaryBanner() {
    const [down, setDown] = useState(serverStatus.primaryDown);
    useEffect(() => {
        const unsubscribe = serverStatus.subscribe(setDown);
        let stopped = false;
        async function poll() {
            try {
                const response = await fetch('/health/ready', { headers: { Accept: 'application/json' } });
                const body = (await response.json()) as { primary?: { status?: string } };
                if (!stopped) serverStatus.set(body.primary?.status === 'down');
            } catch {
                // The API itself is unreachable: react-admin's own errors say so.
            }
        }
        void poll();
        const timer = setInterval(poll, POLL_MS);
        return () => {
            stopped = true;
            clearInterval(timer);
            unsubscribe();
        };
    }, []);
    if (!down) return null;
    return (
        <Alert severity="warning" role="status" sx={{ mb: 1 }} data-testid="primary-down">
            The primary database is down: you can keep browsing, but changes are refused until it is back.
        </Alert>
    );
}
