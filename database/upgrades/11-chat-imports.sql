-- v11: Imported chat exports
-- A chat's imported history goes into the portal room when that room had no messages yet,
-- otherwise into a linked history room, remembered here (one per portal).
CREATE TABLE import_rooms (
    portal_jid      TEXT NOT NULL,
    portal_receiver TEXT NOT NULL,
    mxid            TEXT NOT NULL UNIQUE,

    PRIMARY KEY (portal_jid, portal_receiver),
    CONSTRAINT import_rooms_portal_fkey FOREIGN KEY (portal_jid, portal_receiver)
        REFERENCES portals (jid, receiver) ON DELETE CASCADE ON UPDATE CASCADE
);

-- Every message posted from an export, by its stable key (chatexport.Keys), so that importing
-- the same export (or a longer one of the same chat) again posts only what is new.
CREATE TABLE imported_messages (
    portal_jid      TEXT NOT NULL,
    portal_receiver TEXT NOT NULL,
    import_key      TEXT NOT NULL,
    mx_room         TEXT NOT NULL,
    mxid            TEXT NOT NULL,
    timestamp       BIGINT NOT NULL,

    PRIMARY KEY (portal_jid, portal_receiver, import_key),
    CONSTRAINT imported_messages_portal_fkey FOREIGN KEY (portal_jid, portal_receiver)
        REFERENCES portals (jid, receiver) ON DELETE CASCADE ON UPDATE CASCADE
);
