"""HTTP transport: Green API routes, request validation, error rendering. No SQL, no engine calls."""
