import { defineConfig } from 'vite';

// `npm run dev` proxies the API to a running `overdrive server` (OVERDRIVE_URL, default
// http://127.0.0.1:8080); `npm run build` writes web/dist, which the server serves at `/`.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 200,
  },
  server: {
    proxy: { '/api': process.env.OVERDRIVE_URL ?? 'http://127.0.0.1:8080' },
  },
});
