// Lets a plain `node` process import the gateway's TypeScript sources directly (no build): with
// `--experimental-transform-types` Node strips the types, and this hook maps the `.js` specifiers the
// sources use (NodeNext style) to the `.ts` files next to them. Used by the soak's child gateway.
// Usage: node --experimental-transform-types --import ./scripts/lib/ts-source-hooks.js <entry>
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

registerHooks({
  resolve(specifier, context, next) {
    if (context.parentURL?.endsWith('.ts') && (specifier.startsWith('./') || specifier.startsWith('../')) && specifier.endsWith('.js')) {
      const ts = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
      if (existsSync(fileURLToPath(ts))) return next(ts.href, context);
    }
    return next(specifier, context);
  },
});
