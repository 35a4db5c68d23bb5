-- v8: Durable WhatsApp inbox
-- WhatsApp events bound for a portal are stored here before WhatsApp gets its acknowledgement and
-- are handled per portal in seq order. payload is the event in the serialised form kind/version
-- name (see whatsapp.EncodeEvent).
CREATE TABLE whatsapp_inbox (
-- only: postgres
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
-- only: sqlite
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_mxid       TEXT NOT NULL,
    portal_jid      TEXT NOT NULL,
    portal_receiver TEXT NOT NULL,
    kind            TEXT NOT NULL,
    version         INTEGER NOT NULL,
    wa_id           TEXT NOT NULL DEFAULT '',
    payload         TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL DEFAULT 'pending',

    CONSTRAINT whatsapp_inbox_state_check CHECK (state IN ('pending', 'done', 'failed'))
);
CREATE INDEX whatsapp_inbox_pending_idx ON whatsapp_inbox (portal_jid, portal_receiver, seq) WHERE state = 'pending';
