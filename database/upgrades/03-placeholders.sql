-- v3: Placeholders of WhatsApp messages waiting to be decrypted

-- A WhatsApp message the bridge could not decrypt yet shows as a placeholder event in the room
-- until the sender or the phone resends it; this maps its WhatsApp ID to that event.
CREATE TABLE placeholders (
    portal_jid      TEXT NOT NULL,
    portal_receiver TEXT NOT NULL,
    wa_id           TEXT NOT NULL,
    sender          TEXT NOT NULL,
    mxid            TEXT NOT NULL UNIQUE,
    timestamp       BIGINT NOT NULL,

    PRIMARY KEY (portal_jid, portal_receiver, wa_id),
    CONSTRAINT placeholders_portal_fkey FOREIGN KEY (portal_jid, portal_receiver)
        REFERENCES portals (jid, receiver) ON DELETE CASCADE ON UPDATE CASCADE
);
