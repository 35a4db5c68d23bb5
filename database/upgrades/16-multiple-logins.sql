-- v16: Several WhatsApp logins per Matrix user
-- Each WhatsApp account a Matrix user linked is one row of user_logins, named by its phone number
-- (digits, the login ID users type in `logout <number>`). users.default_login is the phone of the
-- login that commands and the provisioning API use when none is named. users.wa_jid, users.phone
-- and users.push_name are no longer read: their values move to user_logins here.
CREATE TABLE user_logins (
    user_mxid  TEXT NOT NULL,
    phone      TEXT NOT NULL,
    wa_jid     TEXT NOT NULL UNIQUE,
    push_name  TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,

    PRIMARY KEY (user_mxid, phone),
    CONSTRAINT user_logins_user_fkey FOREIGN KEY (user_mxid) REFERENCES users (mxid) ON DELETE CASCADE
);

INSERT INTO user_logins (user_mxid, phone, wa_jid, push_name, created_at, updated_at)
    SELECT mxid, phone, wa_jid, push_name, created_at, updated_at FROM users
    WHERE wa_jid IS NOT NULL AND phone <> '';

ALTER TABLE users ADD COLUMN default_login TEXT NOT NULL DEFAULT '';
UPDATE users SET default_login = phone WHERE wa_jid IS NOT NULL AND phone <> '';
UPDATE users SET wa_jid = NULL;

-- The login that received a WhatsApp event ('' for events stored before: the user's default login).
ALTER TABLE whatsapp_inbox ADD COLUMN login_phone TEXT NOT NULL DEFAULT '';
UPDATE whatsapp_inbox SET login_phone = COALESCE((SELECT default_login FROM users WHERE users.mxid = whatsapp_inbox.user_mxid), '');

-- History chunks are kept per login: two accounts of one user number their chunks alike.
CREATE TABLE history_chunks_v16 (
    user_mxid   TEXT    NOT NULL,
    login_phone TEXT    NOT NULL DEFAULT '',
    sync_type   INTEGER NOT NULL,
    chunk_order INTEGER NOT NULL,
    progress    INTEGER NOT NULL,
    data        bytea   NOT NULL,

    PRIMARY KEY (user_mxid, login_phone, sync_type, chunk_order),
    CONSTRAINT history_chunks_user_fkey FOREIGN KEY (user_mxid) REFERENCES users (mxid) ON DELETE CASCADE
);
INSERT INTO history_chunks_v16 (user_mxid, login_phone, sync_type, chunk_order, progress, data)
    SELECT h.user_mxid, COALESCE(u.default_login, ''), h.sync_type, h.chunk_order, h.progress, h.data
    FROM history_chunks h LEFT JOIN users u ON u.mxid = h.user_mxid;
DROP TABLE history_chunks;
ALTER TABLE history_chunks_v16 RENAME TO history_chunks;
