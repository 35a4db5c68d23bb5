-- v4: Chat settings synced from each user's WhatsApp phone
-- Kept per bridge user and chat (groups are shared portals, their settings are not), whether or
-- not the chat has a room yet, so that they can be applied when the bridge is able to.
CREATE TABLE chat_settings (
    user_mxid   TEXT NOT NULL,
    chat_jid    TEXT NOT NULL,
    -- muted_until: unix milliseconds; 0 = not muted, -1 = muted without end
    muted_until BIGINT NOT NULL DEFAULT 0,
    pinned      BOOLEAN NOT NULL DEFAULT false,
    archived    BOOLEAN NOT NULL DEFAULT false,
    unread      BOOLEAN NOT NULL DEFAULT false,
    updated_at  BIGINT NOT NULL,

    PRIMARY KEY (user_mxid, chat_jid)
);
