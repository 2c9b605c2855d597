// Types for the page's import of marked's browser build, which the service serves from node_modules at
// /demo/vendor/marked/marked.esm.js (see src/http/routes/demo.ts); only `npx tsc -p public` reads this.
export * from 'marked';
