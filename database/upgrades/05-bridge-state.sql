-- v5: Small values the bridge keeps across restarts, by name
-- e.g. bot_sync.next_batch: where the bot's own /sync loop resumes.
CREATE TABLE bridge_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
