-- v5: Remember the Matrix answer IDs of bridged polls

-- poll_answers is a JSON array with the Matrix answer ID of each option of a poll, in the order of
-- the WhatsApp poll's options ('' for messages that are not polls), so that votes map between
-- Matrix answer IDs and WhatsApp option hashes in both directions.
ALTER TABLE messages ADD COLUMN poll_answers TEXT NOT NULL DEFAULT '';
