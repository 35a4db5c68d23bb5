-- v1: Initial schema

-- Timestamps are Unix milliseconds (0 = unknown/never). WhatsApp identifiers are JID strings in
-- whatsmeow's textual form without a device part, except users.wa_jid which is the bridge's own
-- device JID.

CREATE TABLE users (
    mxid            TEXT PRIMARY KEY,
    wa_jid          TEXT UNIQUE,
    phone           TEXT NOT NULL DEFAULT '',
    push_name       TEXT NOT NULL DEFAULT '',
    management_room TEXT,
    space_room      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE puppets (
    jid                     TEXT PRIMARY KEY,
    lid                     TEXT UNIQUE,
    name                    TEXT NOT NULL DEFAULT '',
    name_source             TEXT NOT NULL DEFAULT '',
    avatar_id               TEXT NOT NULL DEFAULT '',
    avatar_mxc              TEXT NOT NULL DEFAULT '',
    name_set                BOOLEAN NOT NULL DEFAULT false,
    avatar_set              BOOLEAN NOT NULL DEFAULT false,
    contact_info_updated_at BIGINT NOT NULL DEFAULT 0,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

CREATE TABLE portals (
    jid             TEXT NOT NULL,
    receiver        TEXT NOT NULL DEFAULT '',
    mxid            TEXT UNIQUE,
    name            TEXT NOT NULL DEFAULT '',
    topic           TEXT NOT NULL DEFAULT '',
    avatar_id       TEXT NOT NULL DEFAULT '',
    avatar_mxc      TEXT NOT NULL DEFAULT '',
    name_set        BOOLEAN NOT NULL DEFAULT false,
    topic_set       BOOLEAN NOT NULL DEFAULT false,
    avatar_set      BOOLEAN NOT NULL DEFAULT false,
    encrypted       BOOLEAN NOT NULL DEFAULT false,
    created_at      BIGINT NOT NULL,
    room_created_at BIGINT NOT NULL DEFAULT 0,

    PRIMARY KEY (jid, receiver)
);
CREATE INDEX portals_receiver_idx ON portals (receiver);

CREATE TABLE messages (
    portal_jid      TEXT NOT NULL,
    portal_receiver TEXT NOT NULL,
    wa_id           TEXT NOT NULL,
    part            INTEGER NOT NULL DEFAULT 0,
    sender          TEXT NOT NULL,
    sender_mxid     TEXT NOT NULL DEFAULT '',
    mxid            TEXT NOT NULL UNIQUE,
    mx_room         TEXT NOT NULL,
    timestamp       BIGINT NOT NULL,
    edit_count      INTEGER NOT NULL DEFAULT 0,
    last_edit       BIGINT NOT NULL DEFAULT 0,
    is_from_matrix  BOOLEAN NOT NULL DEFAULT false,

    PRIMARY KEY (portal_jid, portal_receiver, wa_id, part),
    CONSTRAINT messages_portal_fkey FOREIGN KEY (portal_jid, portal_receiver)
        REFERENCES portals (jid, receiver) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX messages_portal_timestamp_idx ON messages (portal_jid, portal_receiver, timestamp);

CREATE TABLE reactions (
    portal_jid      TEXT NOT NULL,
    portal_receiver TEXT NOT NULL,
    target_wa_id    TEXT NOT NULL,
    sender          TEXT NOT NULL,
    mxid            TEXT NOT NULL UNIQUE,
    emoji           TEXT NOT NULL,
    wa_id           TEXT NOT NULL,
    timestamp       BIGINT NOT NULL,

    PRIMARY KEY (portal_jid, portal_receiver, target_wa_id, sender),
    CONSTRAINT reactions_portal_fkey FOREIGN KEY (portal_jid, portal_receiver)
        REFERENCES portals (jid, receiver) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE appservice_txns (
    txn_id       TEXT PRIMARY KEY,
    processed_at BIGINT NOT NULL
);
CREATE INDEX appservice_txns_processed_at_idx ON appservice_txns (processed_at);

CREATE TABLE matrix_inbox (
-- only: postgres
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
-- only: sqlite
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    room_id     TEXT NOT NULL,
    txn_id      TEXT NOT NULL DEFAULT '',
    event       TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL DEFAULT 'pending',

    CONSTRAINT matrix_inbox_state_check CHECK (state IN ('pending', 'done', 'failed'))
);
CREATE INDEX matrix_inbox_pending_idx ON matrix_inbox (room_id, seq) WHERE state = 'pending';

CREATE TABLE outbox (
    event_id        TEXT PRIMARY KEY,
    portal_jid      TEXT NOT NULL,
    portal_receiver TEXT NOT NULL,
    wa_id           TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,

    CONSTRAINT outbox_state_check CHECK (state IN ('pending', 'sent', 'failed')),
    CONSTRAINT outbox_portal_fkey FOREIGN KEY (portal_jid, portal_receiver)
        REFERENCES portals (jid, receiver) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX outbox_pending_idx ON outbox (portal_jid, portal_receiver, created_at) WHERE state = 'pending';
