-- v10: Relay mode
-- relay_mxid is the bridge user whose WhatsApp account sends the messages of Matrix users without
-- a login in this portal (set-relay); NULL when relaying is off.
ALTER TABLE portals ADD COLUMN relay_mxid TEXT;
