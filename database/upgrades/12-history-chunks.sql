-- v12: History sync chunks kept until bridged, and when placeholders were posted
-- The phone's RECENT and FULL history chunks are collected until its last one arrives and then
-- bridged together; each is kept here (as the phone sent it) from when it arrives until then, so
-- a bridge restart in between loses none.
CREATE TABLE history_chunks (
    user_mxid   TEXT    NOT NULL,
    sync_type   INTEGER NOT NULL,
    chunk_order INTEGER NOT NULL,
    progress    INTEGER NOT NULL,
    data        bytea   NOT NULL,

    PRIMARY KEY (user_mxid, sync_type, chunk_order),
    CONSTRAINT history_chunks_user_fkey FOREIGN KEY (user_mxid) REFERENCES users (mxid) ON DELETE CASCADE
);

-- When each placeholder of an undecryptable message was posted: the bridge gives up waiting for
-- the message some time after that (bridge.undecryptable_wait).
ALTER TABLE placeholders ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
