import { Box, Button, Card, CardContent, TextField, Typography } from '@mui/material';
import { type FormEvent, useEffect, useState } from 'react';
import { useLogin, useNotify } from 'react-admin';

/** Email and password; the answer's problem detail (wrong pair, throttled) is shown as it is. */
export function LoginPage() {
    const login = useLogin();
    const notify = useNotify();
    const [email, setEmail] = useState('');
    const [password, setPassword] = useState('');
    const [busy, setBusy] = useState(false);
    // While the operator types, fetch the pages most visits open first (their chunks are not part of the first load).
    useEffect(() => {
        void import('../dashboard/Dashboard');
        void import('../members/MemberList');
    }, []);

    async function submit(event: FormEvent) {
        event.preventDefault();
        setBusy(true);
        try {
            await login({ email, password });
        } catch (error) {
            notify((error as Error).message || 'Login failed', { type: 'error' });
        } finally {
            setBusy(false);
        }
    }

    return (
        <Box component="main" sx={{ display: 'flex', justifyContent: 'center', alignItems: 'center', minHeight: '100vh' }}>
            <Card sx={{ width: 360 }}>
                <CardContent>
                    <Typography component="h1" variant="h5" gutterBottom>
                        Memberdesk
                    </Typography>
                    <form onSubmit={submit}>
                        <TextField
                            label="Email"
                            name="email"
                            type="email"
                            autoComplete="username"
                            value={email}
                            onChange={e => setEmail(e.target.value)}
                            fullWidth
                            margin="normal"
                            required
                        />
                        <TextField
                            label="Password"
                            name="password"
                            type="password"
                            autoComplete="current-password"
                            value={password}
                            onChange={e => setPassword(e.target.value)}
                            fullWidth
                            margin="normal"
                            required
                        />
                        <Button type="submit" variant="contained" fullWidth disabled={busy} sx={{ mt: 2 }}>
                            Log in
                        </Button>
                    </form>
                </CardContent>
            </Card>
        </Box>
    );
}
