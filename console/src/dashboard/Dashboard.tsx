import { Alert, Box, Card, CardContent, Chip, Table, TableBody, TableCell, TableHead, TableRow, Typography } from '@mui/material';
import { useEffect, useState } from 'react';
import { Link, Loading, Title } from 'react-admin';

import type { DashboardStats } from '../api';
import { errorMessage, useMemberdesk } from '../hooks';
import { SignupChart } from './SignupChart';

const FIGURES: [keyof DashboardStats, string][] = [
    ['total_members', 'Members'],
    ['monthly_signups', 'Sign-ups this month'],
    ['weekly_signups', 'Sign-ups this week'],
    ['today_signups', 'Sign-ups today'],
    ['male_count', 'Men'],
    ['female_count', 'Women'],
    ['pending_reviews', 'Pending reviews'],
];

function Degraded({ what }: { what: string }) {
    return <Chip color="warning" label={`${what} unavailable right now`} size="small" />;
}

const QUEUES: [keyof NonNullable<DashboardStats['queues']>, string, string][] = [
    ['members', 'Members to review', '/reviews'],
    ['photos', 'Photos', '/photos'],
    ['documents', 'Documents', '/documents'],
    ['reports', 'Open reports', '/reports'],
];

/** How long the oldest item has waited, in the largest unit that says it. */
export function age(seconds: number | null): string {
    if (seconds === null) return '—';
    if (seconds < 60) return `${seconds} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
    if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
    return `${Math.floor(seconds / 86_400)} d ${Math.floor((seconds % 86_400) / 3600)} h`;
}

function QueueTable({ queues }: { queues: NonNullable<DashboardStats['queues']> }) {
    return (
        <Table size="small" aria-label="Moderation queues">
            <TableHead>
                <TableRow>
                    <TableCell>Queue</TableCell>
                    <TableCell align="right">Waiting</TableCell>
                    <TableCell align="right">Oldest waiting for</TableCell>
                </TableRow>
            </TableHead>
            <TableBody>
                {QUEUES.map(([key, label, route]) => (
                    <TableRow key={key} data-testid={`queue-${key}`}>
                        <TableCell>
                            <Link to={route}>
                                {label}
                            </Link>
                        </TableCell>
                        <TableCell align="right">{queues[key].waiting.toLocaleString()}</TableCell>
                        <TableCell align="right">{age(queues[key].oldest_age_seconds)}</TableCell>
                    </TableRow>
                ))}
            </TableBody>
        </Table>
    );
}

export default function Dashboard() {
    const memberdesk = useMemberdesk();
    const [stats, setStats] = useState<DashboardStats | null>(null);
    const [error, setError] = useState<string | null>(null);
    useEffect(() => {
        // After a refused call (no session) react-admin logs out and answers `{data: {}}`: not figures to show.
        memberdesk.dashboard().then(
            answer => Array.isArray(answer?.degraded) && setStats(answer),
            e => setError(errorMessage(e)),
        );
    }, [memberdesk]);

    if (error) return <Alert severity="error">{error}</Alert>;
    if (!stats) return <Loading />;
    return (
        <Box sx={{ p: 1 }}>
            <Title title="Dashboard" />
            <Typography component="h1" variant="h5" sx={{ mb: 2 }}>
                Dashboard
            </Typography>
            <Box component="ul" sx={{ display: 'grid', gridTemplateColumns: 'repeat(auto-fill, minmax(170px, 1fr))', gap: 2, p: 0, m: 0, listStyle: 'none' }}>
                {FIGURES.map(([key, label]) => (
                    <Card component="li" key={key} data-testid={`figure-${key}`}>
                        <CardContent>
                            <Typography variant="body2">{label}</Typography>
                            <Typography variant="h4" component="p">
                                {Number(stats[key]).toLocaleString()}
                            </Typography>
                        </CardContent>
                    </Card>
                ))}
            </Box>
            <Box sx={{ display: 'grid', gridTemplateColumns: { md: '2fr 1fr' }, gap: 2, mt: 2 }}>
                <Card>
                    <CardContent>
                        <Typography component="h2" variant="h6">
                            Sign-ups per day
                        </Typography>
                        {stats.signups_per_day ? <SignupChart days={stats.signups_per_day} /> : <Degraded what="Sign-ups per day" />}
                    </CardContent>
                </Card>
                <Card>
                    <CardContent>
                        <Typography component="h2" variant="h6">
                            Subscriptions by plan
                        </Typography>
                        {stats.subscriptions_by_plan ? (
                            <Table size="small" aria-label="Active subscriptions by plan">
                                <TableHead>
                                    <TableRow>
                                        <TableCell>Plan</TableCell>
                                        <TableCell align="right">Active</TableCell>
                                    </TableRow>
                                </TableHead>
                                <TableBody>
                                    {stats.subscriptions_by_plan.map(row => (
                                        <TableRow key={row.plan}>
                                            <TableCell>{row.plan}</TableCell>
                                            <TableCell align="right">{row.active.toLocaleString()}</TableCell>
                                        </TableRow>
                                    ))}
                                </TableBody>
                            </Table>
                        ) : (
                            <Degraded what="Subscriptions" />
                        )}
                    </CardContent>
                </Card>
            </Box>
            <Card sx={{ mt: 2 }}>
                <CardContent>
                    <Typography component="h2" variant="h6">
                        Queues
                    </Typography>
                    {stats.queues ? <QueueTable queues={stats.queues} /> : <Degraded what="Queues" />}
                </CardContent>
            </Card>
            {stats.degraded.length > 0 && (
                <Alert severity="warning" sx={{ mt: 2 }}>
                    Some sections could not be loaded: {stats.degraded.join(', ')}.
                </Alert>
            )}
        </Box>
    );
}
