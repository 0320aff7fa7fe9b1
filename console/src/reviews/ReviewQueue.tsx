import { Alert, Box, Button, Card, CardContent, Chip, Typography } from '@mui/material';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { Loading, Title, useNotify } from 'react-admin';

import { errorMessage, useAllowed, useMemberdesk } from '../hooks';
import { ReasonDialog, type Why } from '../members/ReasonDialog';

interface Member {
    id: string;
    name: string;
    gender: string;
    birth_year: number;
    status: string;
    created_at: string;
    profile?: { bio?: string | null; region?: string | null; job?: string | null; height_cm?: number | null } | null;
    photos?: { id: string; url: string; display_order: number; status: string }[];
}

type Decision = 'approve' | 'reject' | 'suspend';
const PAGE = 20;

/**
 * The review queue (`GET /reviews/pending`, oldest first, by cursor): one member per screen, photos large.
 * Keys: A approve, R reject (asks why), S suspend (asks why), N skip; each decision moves on to the next member.
 * Phase 2 of issue 14 claims each member first (`POST /reviews/next`), so two moderators never see the same one.
 */
export default function ReviewQueue() {
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const canReview = useAllowed('reviews', 'review');
    const [queue, setQueue] = useState<string[] | null>(null);
    const [cursor, setCursor] = useState<string | null>(null);
    const [member, setMember] = useState<Member | null>(null);
    const [asking, setAsking] = useState<'reject' | 'suspend' | null>(null);
    const [done, setDone] = useState(0);
    const seen = useRef(new Set<string>()); // decided or skipped in this visit
    const busy = useRef(false);

    const loadMore = useCallback(
        async (from: string | null) => {
            const page = await memberdesk.getList('reviews', {
                pagination: { page: 1, perPage: PAGE },
                meta: { cursor: from },
            });
            const ids = page.data.map(row => String(row.id)).filter(id => !seen.current.has(id));
            setCursor(page.meta?.nextCursor ?? null); // no meta after a refused call (react-admin logged out)
            setQueue(current => [...(current ?? []), ...ids.filter(id => !(current ?? []).includes(id))]);
        },
        [memberdesk],
    );

    useEffect(() => {
        loadMore(null).catch(error => notify(errorMessage(error), { type: 'error' }));
    }, [loadMore, notify]);

    const currentId = queue?.[0] ?? null;
    useEffect(() => {
        setMember(null);
        if (!currentId) return;
        memberdesk.getOne('members', { id: currentId }).then(
            answer => answer.data?.id && setMember(answer.data as unknown as Member),
            error => notify(errorMessage(error), { type: 'error' }),
        );
        if (queue && queue.length < 3 && cursor) void loadMore(cursor);
    }, [currentId]); // on a new member only: the queue and cursor are read as they are then

    const next = useCallback(() => {
        if (currentId) seen.current.add(currentId);
        setQueue(current => (current ?? []).slice(1));
    }, [currentId]);

    const decide = useCallback(
        async (action: Decision, why?: Why) => {
            if (!member || busy.current) return;
            busy.current = true;
            try {
                await memberdesk.review(member.id, action, why);
                setDone(n => n + 1);
                notify(`${member.name}: ${action === 'approve' ? 'approved' : action === 'reject' ? 'rejected' : 'suspended'}`, {
                    type: 'success',
                });
                next();
            } catch (error) {
                notify(errorMessage(error), { type: 'error' });
            } finally {
                busy.current = false;
            }
        },
        [member, memberdesk, next, notify],
    );

    // A layout effect: the listener that sees the member on screen is in place before the browser paints it, so a
    // key pressed as soon as the member shows is never handled by the listener of the screen before.
    useLayoutEffect(() => {
        function onKey(event: KeyboardEvent) {
            if (asking || event.ctrlKey || event.metaKey || event.altKey) return;
            const target = event.target as HTMLElement;
            if (target.closest('input, textarea, [contenteditable="true"], [role="dialog"]')) return;
            const key = event.key.toLowerCase();
            if (key === 'n') next();
            if (!canReview || !member) return;
            if (key === 'a') void decide('approve');
            if (key === 'r') setAsking('reject');
            if (key === 's') setAsking('suspend');
        }
        window.addEventListener('keydown', onKey);
        return () => window.removeEventListener('keydown', onKey);
    }, [asking, canReview, decide, member, next]);

    if (queue === null) return <Loading />;
    const age = member ? new Date().getFullYear() - member.birth_year : null;
    return (
        <Box sx={{ p: 1 }}>
            <Title title="Review queue" />
            <Typography component="h1" variant="h5" sx={{ mb: 1 }}>
                Review queue
            </Typography>
            <Typography variant="body2" sx={{ mb: 2 }}>
                {canReview ? 'Keys: A approve, R reject, S suspend, N skip.' : 'N: next member. Your role reads only.'} Decided in
                this visit: {done}.
            </Typography>
            {!currentId && <Alert severity="success">The queue is empty.</Alert>}
            {currentId && !member && <Loading />}
            {member && (
                <Card data-testid="review-member" data-member-id={member.id}>
                    <CardContent>
                        <Typography component="h2" variant="h4">
                            {member.name}
                        </Typography>
                        <Box sx={{ display: 'flex', gap: 1, my: 1, flexWrap: 'wrap' }}>
                            <Chip label={member.gender} />
                            <Chip label={`${age} years`} />
                            <Chip label={member.status} color="warning" />
                            {member.profile?.region && <Chip label={member.profile.region} />}
                            {member.profile?.job && <Chip label={member.profile.job} />}
                            <Chip label={`signed up ${new Date(member.created_at).toLocaleString()}`} />
                        </Box>
                        {member.profile?.bio && <Typography sx={{ my: 1 }}>{member.profile.bio}</Typography>}
                        <Box component="ul" aria-label="Photos" sx={{ display: 'flex', gap: 2, overflowX: 'auto', p: 0, listStyle: 'none' }}>
                            {(member.photos ?? []).map(photo => (
                                <li key={photo.id}>
                                    <img
                                        src={photo.url}
                                        alt={`Photo ${photo.display_order + 1} of ${member.name} (${photo.status})`}
                                        style={{ height: 360, borderRadius: 8 }}
                                    />
                                </li>
                            ))}
                            {(member.photos ?? []).length === 0 && <li>No photos.</li>}
                        </Box>
                        <Box sx={{ display: 'flex', gap: 1, mt: 2 }}>
                            {canReview && (
                                <>
                                    <Button variant="contained" color="success" onClick={() => decide('approve')}>
                                        Approve (A)
                                    </Button>
                                    <Button variant="contained" color="error" onClick={() => setAsking('reject')}>
                                        Reject (R)
                                    </Button>
                                    <Button variant="outlined" onClick={() => setAsking('suspend')}>
                                        Suspend (S)
                                    </Button>
                                </>
                            )}
                            <Button onClick={next}>Skip (N)</Button>
                        </Box>
                    </CardContent>
                </Card>
            )}
            <ReasonDialog
                open={asking !== null}
                title={asking === 'suspend' ? `Suspend ${member?.name ?? ''}` : `Reject ${member?.name ?? ''}`}
                confirm={asking === 'suspend' ? 'Suspend' : 'Reject'}
                onClose={() => setAsking(null)}
                onConfirm={why => {
                    const action = asking;
                    setAsking(null);
                    if (action) void decide(action, why);
                }}
            />
        </Box>
    );
}
