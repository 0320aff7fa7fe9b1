// Swagger UI for the API's /docs, served from the console's build: nothing is loaded from outside at run time.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const source = dirname(require.resolve('swagger-ui-dist/package.json'));
const target = join('dist', 'swagger-ui');
mkdirSync(target, { recursive: true });
for (const name of ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'oauth2-redirect.html']) {
    copyFileSync(join(source, name), join(target, name));
}
