-- v6: Remember poll answers and each chat's disappearing-messages timer

-- poll_answers is a JSON array with the Matrix answer ID of each option of a poll, in the order of
-- the WhatsApp poll's options ('' for messages that are not polls), so that votes map between
-- Matrix answer IDs and WhatsApp option hashes in both directions.
ALTER TABLE messages ADD COLUMN poll_answers TEXT NOT NULL DEFAULT '';

-- disappear_timer is the chat's disappearing-messages timer in seconds (0: off), as WhatsApp last
-- said; messages sent from Matrix into the chat carry it so that WhatsApp's apps delete them too.
ALTER TABLE portals ADD COLUMN disappear_timer BIGINT NOT NULL DEFAULT 0;
