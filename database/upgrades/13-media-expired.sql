-- v13: Remember attachments WhatsApp no longer had when they were bridged

-- media_expired marks the notice shown for an attachment WhatsApp's servers no longer had; the
-- user's phone can be asked to upload it again (part 0's quote holds the attachment's keys), and
-- the notice is then replaced by the file.
ALTER TABLE messages ADD COLUMN media_expired BOOLEAN NOT NULL DEFAULT false;
