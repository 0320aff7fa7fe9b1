import { Alert, Box, Button, Card, CardContent, Chip, Tooltip, Typography } from '@mui/material';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { Loading, Title, useNotify } from 'react-admin';

import { ApiError, type ClaimedItem } from '../api';
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
// What the API allows (backend/domain/member/writes.py): suspend only an active member; reject only a pending one.
const SUSPEND_HINT = 'A pending member cannot be suspended (only active members can): reject, or approve first.';

/** The queue's state for the page: the member on screen, and how to move on. */
interface QueueState {
    member: Member | null;
    /** null while the first member loads; false when nothing waits. */
    waiting: boolean | null;
    claimedUntil: string | null;
    /** After a decision: the next member. */
    advance: () => void;
    /** Pass over the member on screen (N). */
    skip: () => void;
}

/** A moderator's queue: each member is claimed first (`POST /reviews/next`), so two moderators never see the same
 * one; a skip gives the claim back (`POST /reviews/release`) and is not handed to this visit again; leaving the
 * page gives back the member on screen. */
function useClaimedQueue(enabled: boolean): QueueState {
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const [item, setItem] = useState<ClaimedItem | null | undefined>(undefined);
    const [member, setMember] = useState<Member | null>(null);
    const skipped = useRef<string[]>([]);
    const held = useRef<string | null>(null);

    const claim = useCallback(async () => {
        setMember(null);
        try {
            const next = await memberdesk.claimNext('members', skipped.current.slice(-200));
            held.current = next?.id ?? null;
            setItem(next && next.id ? next : null); // no id: react-admin answered for a logged-out session
            if (next?.id) {
                const answer = await memberdesk.getOne('members', { id: next.id });
                if (answer.data?.id) setMember(answer.data as unknown as Member);
            }
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
            setItem(null);
        }
    }, [memberdesk, notify]);

    useEffect(() => {
        if (!enabled) return;
        void claim();
        const giveBack = () => {
            if (held.current) void memberdesk.release('members', held.current, { keepalive: true }).catch(() => undefined);
            held.current = null;
        };
        window.addEventListener('pagehide', giveBack);
        return () => {
            window.removeEventListener('pagehide', giveBack);
            giveBack();
        };
    }, [enabled, claim, memberdesk]);

    const skip = useCallback(() => {
        const id = held.current;
        if (!id) return;
        skipped.current.push(id);
        held.current = null;
        memberdesk
            .release('members', id)
            .catch(error => notify(errorMessage(error), { type: 'error' }))
            .finally(() => void claim());
    }, [claim, memberdesk, notify]);

    const advance = useCallback(() => {
        held.current = null; // a decision released the claim
        void claim();
    }, [claim]);

    return { member, waiting: item === undefined ? null : item !== null, claimedUntil: item?.claimed_until ?? null, advance, skip };
}

/** Read-only browsing for roles that cannot claim (a viewer): the pending members, oldest first, by cursor. */
function useBrowsedQueue(enabled: boolean): QueueState {
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const [queue, setQueue] = useState<string[] | null>(null);
    const [cursor, setCursor] = useState<string | null>(null);
    const [member, setMember] = useState<Member | null>(null);

    const loadMore = useCallback(
        async (from: string | null) => {
            const page = await memberdesk.getList('reviews', { pagination: { page: 1, perPage: PAGE }, meta: { cursor: from } });
            setCursor(page.meta?.nextCursor ?? null); // no meta after a refused call (react-admin logged out)
            const ids = page.data.map(row => String(row.id));
            setQueue(current => [...(current ?? []), ...ids.filter(id => !(current ?? []).includes(id))]);
        },
        [memberdesk],
    );
    useEffect(() => {
        if (enabled) loadMore(null).catch(error => notify(errorMessage(error), { type: 'error' }));
    }, [enabled, loadMore, notify]);

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

    const skip = useCallback(() => setQueue(current => (current ?? []).slice(1)), []);
    return { member, waiting: queue === null ? null : queue.length > 0, claimedUntil: null, advance: skip, skip };
}

/**
 * The review queue: one member per screen, photos large. Keys: A approve, R reject (asks why), S suspend (asks
 * why; only for an active member, as the API allows), N skip; each decision moves on to the next claimed member.
 */
export default function ReviewQueue() {
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const canReview = useAllowed('reviews', 'review');
    const claimed = useClaimedQueue(canReview);
    const browsed = useBrowsedQueue(!canReview);
    const { member, waiting, claimedUntil, advance, skip } = canReview ? claimed : browsed;
    const [asking, setAsking] = useState<'reject' | 'suspend' | null>(null);
    const [done, setDone] = useState(0);
    const busy = useRef(false);
    const canSuspend = member?.status === 'active';

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
                advance();
            } catch (error) {
                notify(errorMessage(error), { type: 'error' });
                // Decided or claimed by someone else meanwhile: nothing left to do here.
                if (error instanceof ApiError && (error.status === 404 || error.status === 409)) advance();
            } finally {
                busy.current = false;
            }
        },
        [advance, member, memberdesk, notify],
    );

    // A layout effect: the listener that sees the member on screen is in place before the browser paints it, so a
    // key pressed as soon as the member shows is never handled by the listener of the screen before.
    useLayoutEffect(() => {
        function onKey(event: KeyboardEvent) {
            if (asking || event.ctrlKey || event.metaKey || event.altKey) return;
            const target = event.target as HTMLElement;
            if (target.closest('input, textarea, [contenteditable="true"], [role="dialog"]')) return;
            const key = event.key.toLowerCase();
            if (!member) return;
            if (key === 'n') skip();
            if (!canReview) return;
            if (key === 'a') void decide('approve');
            if (key === 'r') setAsking('reject');
            if (key === 's') {
                if (canSuspend) setAsking('suspend');
                else notify(SUSPEND_HINT, { type: 'info' });
            }
        }
        window.addEventListener('keydown', onKey);
        return () => window.removeEventListener('keydown', onKey);
    }, [asking, canReview, canSuspend, decide, member, notify, skip]);

    if (waiting === null) return <Loading />;
    const age = member ? new Date().getFullYear() - member.birth_year : null;
    return (
        <Box sx={{ p: 1 }}>
            <Title title="Review queue" />
            <Typography component="h1" variant="h5" sx={{ mb: 1 }}>
                Review queue
            </Typography>
            <Typography variant="body2" sx={{ mb: 2 }}>
                {canReview
                    ? 'Each member is yours alone while on screen. Keys: A approve, R reject, S suspend, N skip.'
                    : 'N: next member. Your role reads only.'}{' '}
                Decided in this visit: {done}.
            </Typography>
            {!waiting && <Alert severity="success">The queue is empty.</Alert>}
            {waiting && !member && <Loading />}
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
                            {claimedUntil && <Chip variant="outlined" label={`yours until ${new Date(claimedUntil).toLocaleTimeString()}`} />}
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
                        <Box sx={{ display: 'flex', gap: 1, mt: 2, alignItems: 'center' }}>
                            {canReview && (
                                <>
                                    <Button variant="contained" color="success" onClick={() => decide('approve')}>
                                        Approve (A)
                                    </Button>
                                    <Button variant="contained" color="error" onClick={() => setAsking('reject')}>
                                        Reject (R)
                                    </Button>
                                    <Tooltip title={canSuspend ? '' : SUSPEND_HINT}>
                                        <span>
                                            <Button variant="outlined" disabled={!canSuspend} onClick={() => setAsking('suspend')}>
                                                Suspend (S)
                                            </Button>
                                        </span>
                                    </Tooltip>
                                </>
                            )}
                            <Button onClick={skip}>Skip (N)</Button>
                        </Box>
                        {canReview && !canSuspend && (
                            <Typography variant="body2" sx={{ mt: 1 }} data-testid="suspend-hint">
                                {SUSPEND_HINT}
                            </Typography>
                        )}
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
