import DeleteIcon from '@mui/icons-material/Delete';
import UploadIcon from '@mui/icons-material/Upload';
import { Box, Button, Card, CardActions, CardMedia, Chip, IconButton, Typography } from '@mui/material';
import { useRef, useState } from 'react';
import { useNotify, useRecordContext, useRefresh } from 'react-admin';

import { errorMessage, useAllowed, useMemberdesk } from '../hooks';
import { ReasonDialog } from './ReasonDialog';

interface Photo {
    id: string;
    display_order: number;
    status: string;
    url: string;
}

const ACCEPT = 'image/jpeg,image/png,image/webp';

/** The member's photos in order: approve, reject (with a reason), drag to reorder, delete, upload. */
export function PhotoGallery() {
    const record = useRecordContext();
    const memberdesk = useMemberdesk();
    const notify = useNotify();
    const refresh = useRefresh();
    const canModerate = useAllowed('members', 'moderate');
    const [rejecting, setRejecting] = useState<Photo | null>(null);
    const [dragged, setDragged] = useState<string | null>(null);
    const [uploading, setUploading] = useState(false);
    const input = useRef<HTMLInputElement>(null);
    if (!record) return null;
    const photos = [...((record.photos as Photo[]) ?? [])].sort((a, b) => a.display_order - b.display_order);

    async function act(work: () => Promise<unknown>, done: string) {
        try {
            await work();
            notify(done, { type: 'success' });
        } catch (error) {
            notify(errorMessage(error), { type: 'error' });
        }
        refresh();
    }

    async function upload(files: FileList | null) {
        const file = files?.[0];
        if (!file || !record) return;
        setUploading(true);
        await act(() => memberdesk.uploadPhoto(record.id, file), 'Photo uploaded: pending review');
        setUploading(false);
        if (input.current) input.current.value = '';
    }

    return (
        <Box>
            {canModerate && (
                <Box sx={{ mb: 2 }}>
                    <input
                        ref={input}
                        type="file"
                        accept={ACCEPT}
                        id="photo-upload"
                        aria-label="Photo file to upload"
                        style={{ display: 'none' }}
                        onChange={e => upload(e.target.files)}
                    />
                    <Button variant="outlined" startIcon={<UploadIcon />} disabled={uploading} onClick={() => input.current?.click()}>
                        {uploading ? 'Uploading…' : 'Upload a photo'}
                    </Button>
                </Box>
            )}
            {photos.length === 0 && <Typography>No photos.</Typography>}
            <Box component="ul" aria-label="Photos" sx={{ display: 'flex', flexWrap: 'wrap', gap: 2, p: 0, listStyle: 'none' }}>
                {photos.map(photo => (
                    <Card
                        component="li"
                        key={photo.id}
                        data-testid="photo"
                        data-status={photo.status}
                        draggable={canModerate}
                        onDragStart={() => setDragged(photo.id)}
                        onDragOver={e => canModerate && e.preventDefault()}
                        onDrop={e => {
                            e.preventDefault();
                            if (dragged && dragged !== photo.id) {
                                void act(() => memberdesk.updatePhoto(dragged, { display_order: photo.display_order }), 'Photo moved');
                            }
                            setDragged(null);
                        }}
                        sx={{ width: 200, cursor: canModerate ? 'grab' : 'default' }}
                    >
                        <CardMedia component="img" height="200" image={photo.url} alt={`Photo ${photo.display_order + 1} of ${record.name}`} />
                        <CardActions sx={{ flexWrap: 'wrap' }}>
                            <Chip size="small" label={photo.status} />
                            {canModerate && (
                                <>
                                    <Button
                                        size="small"
                                        disabled={photo.status === 'approved'}
                                        onClick={() => act(() => memberdesk.updatePhoto(photo.id, { status: 'approved' }), 'Photo approved')}
                                    >
                                        Approve
                                    </Button>
                                    <Button size="small" disabled={photo.status === 'rejected'} onClick={() => setRejecting(photo)}>
                                        Reject
                                    </Button>
                                    <IconButton
                                        size="small"
                                        aria-label={`Delete photo ${photo.display_order + 1}`}
                                        onClick={() => act(() => memberdesk.deletePhoto(photo.id), 'Photo deleted')}
                                    >
                                        <DeleteIcon fontSize="small" />
                                    </IconButton>
                                </>
                            )}
                        </CardActions>
                    </Card>
                ))}
            </Box>
            <ReasonDialog
                open={rejecting !== null}
                title="Reject this photo"
                confirm="Reject"
                onClose={() => setRejecting(null)}
                onConfirm={why => {
                    const photo = rejecting;
                    setRejecting(null);
                    if (photo) void act(() => memberdesk.updatePhoto(photo.id, { status: 'rejected', ...why }), 'Photo rejected');
                }}
            />
        </Box>
    );
}
