-- v9: Matrix events waiting for their room keys
-- An encrypted Matrix event the bridge could not decrypt because the room key had not arrived. Its
-- matrix_inbox row is set back to pending when the key arrives, so the message is still bridged.
CREATE TABLE matrix_undecryptable (
    event_id    TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    -- The notice that told the room, redacted once the event is bridged; '' when none was sent.
    notice_id   TEXT NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL
);
CREATE INDEX matrix_undecryptable_session_idx ON matrix_undecryptable (room_id, session_id);
