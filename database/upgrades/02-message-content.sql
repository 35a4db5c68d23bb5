-- v2: Keep what replies, caption edits and deletes of bridged messages need

-- quote is the WhatsApp message content a reply to the message quotes (a serialized waE2E.Message,
-- NULL when unknown); media is the Matrix content of an attachment part (JSON, '' for other parts),
-- which a caption edit from WhatsApp repeats with the new caption.
-- only: postgres
ALTER TABLE messages ADD COLUMN quote BYTEA;
-- only: sqlite
ALTER TABLE messages ADD COLUMN quote BLOB;
ALTER TABLE messages ADD COLUMN media TEXT NOT NULL DEFAULT '';

-- message_edits lists the Matrix edit events (m.replace) of a bridged message, in either direction,
-- so that deleting the message redacts them too.
CREATE TABLE message_edits (
    portal_jid      TEXT NOT NULL,
    portal_receiver TEXT NOT NULL,
    wa_id           TEXT NOT NULL,
    mxid            TEXT NOT NULL PRIMARY KEY,
    mx_room         TEXT NOT NULL,
    sender_mxid     TEXT NOT NULL,

    CONSTRAINT message_edits_portal_fkey FOREIGN KEY (portal_jid, portal_receiver)
        REFERENCES portals (jid, receiver) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX message_edits_message_idx ON message_edits (portal_jid, portal_receiver, wa_id);
