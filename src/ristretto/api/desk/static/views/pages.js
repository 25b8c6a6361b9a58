// The desk's own pages (not DocTypes), by their /app/<page> path: each loads its view module.
export const PAGES = {};
