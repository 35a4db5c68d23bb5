-- v17: Matrix events a homeserver pushed late go before the event they were found older than
-- A homeserver that restarted may push an event stored just before its stop only after newer ones
-- (bridge/late_events.go). Such a row keeps the seq of the event it must be handled before in
-- handle_before (0: none), so that the room's order survives retries and restarts.
ALTER TABLE matrix_inbox ADD COLUMN handle_before BIGINT NOT NULL DEFAULT 0;
