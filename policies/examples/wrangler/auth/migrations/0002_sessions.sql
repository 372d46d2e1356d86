CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL);
