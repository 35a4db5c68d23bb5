-- v14: Remember when disappearing messages expire

-- expires_at is when a message in a chat with disappearing messages disappears from WhatsApp (Unix
-- milliseconds, 0: never); its Matrix copy is redacted then.
ALTER TABLE messages ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_expires_at_idx ON messages (expires_at) WHERE expires_at > 0;
