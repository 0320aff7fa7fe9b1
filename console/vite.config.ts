import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// Served by the API at /console (same origin: the refresh cookie and the read-your-writes cookie just work).
export default defineConfig({
    base: '/console/',
    plugins: [react()],
    build: {
        outDir: 'dist',
        emptyOutDir: true,
        sourcemap: false,
        chunkSizeWarningLimit: 1500,
    },
    server: {
        // `npm run dev` against `make run`'s API.
        proxy: { '/api': 'http://127.0.0.1:8000', '/health': 'http://127.0.0.1:8000' },
    },
    test: {
        environment: 'node',
        include: ['src/**/*.test.ts'],
    },
});
