-- v7: Phone numbers of contacts first known by LID only
-- A contact first seen without its phone number (a hidden number) keeps its LID-keyed puppet, and
-- so its ghost and DM portal, when the number becomes known later; the number is recorded here.
ALTER TABLE puppets ADD COLUMN phone TEXT;
CREATE UNIQUE INDEX puppets_phone_idx ON puppets (phone);
