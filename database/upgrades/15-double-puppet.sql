-- v15: Let users turn double puppeting off

-- double_puppet_off is set when the user sent `double-puppet off`: their own ghost, not their real
-- Matrix account, then shows what they do on their phone.
ALTER TABLE users ADD COLUMN double_puppet_off BOOLEAN NOT NULL DEFAULT false;
